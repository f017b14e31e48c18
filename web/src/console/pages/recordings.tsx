import { Page } from "../ui";
export function Recordings() {
  return <Page title="Recordings">{null}</Page>;
}
