// Moved to runtime/ so pg/convert can use it too; kept here for existing imports.
export { SupportCheck } from '../runtime/support.js';
