export { toWriteError, writeFileAtomic, writeFilesAtomic, type FileData, type FileToWrite } from './atomic-write.js';
export { makeFolder } from './make-folder.js';
export { readFileBytes } from './read-file.js';
export { checkShard, checkShardSet, readShardJson, shardLabel, shardStamp, type ShardFile, type ShardSpec, type ShardStamp } from './shard-files.js';
