// Administration (admins): users, the audit log, webhooks and their deliveries, node status.
import { Page } from "../ui";

export function AdminUsers() {
  return <Page title="Users">{null}</Page>;
}
export function AdminAudit() {
  return <Page title="Audit log">{null}</Page>;
}
export function AdminWebhooks() {
  return <Page title="Webhooks">{null}</Page>;
}
export function AdminWebhook({ id }: { id: string }) {
  return <Page title={`Webhook ${id}`}>{null}</Page>;
}
export function AdminNode() {
  return <Page title="Server">{null}</Page>;
}
