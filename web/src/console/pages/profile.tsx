// The signed-in user's profile: password, two-factor authentication, access tokens, sessions.
import { Page } from "../ui";

export function Profile() {
  return <Page title="Profile">{null}</Page>;
}
