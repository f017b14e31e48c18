import { Page } from "../ui";
export function Channels() {
  return <Page title="Channels">{null}</Page>;
}
export function ChannelPage({ id }: { id: string }) {
  return <Page title={id}>{null}</Page>;
}
