// Moved to interpreter/ so pg/convert can use it too; kept here for existing imports.
export { SupportCheck } from '../interpreter/support.js';
