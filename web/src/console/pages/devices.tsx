import { Page } from "../ui";
export function Devices() {
  return <Page title="Devices">{null}</Page>;
}
export function DevicePage({ id }: { id: string }) {
  return <Page title={id}>{null}</Page>;
}
