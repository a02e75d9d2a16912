export { writeFileAtomic, writeFilesAtomic, type FileData, type FileToWrite } from './atomic-write.js';
export { readFileBytes } from './read-file.js';
