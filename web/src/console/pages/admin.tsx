// Administration (admins): users, the audit log, webhooks and their deliveries, node status.
// One file per concept in `admin/`; the console's routes import them from here.
export { AdminUsers } from "./admin/users";
export { AdminAudit } from "./admin/audit";
export { AdminWebhooks, AdminWebhook } from "./admin/webhooks";
export { AdminNode } from "./admin/node";
