// Sign-up, e-mail verification and password reset (signed out).
import { Page } from "../ui";

export function SignUp() {
  return <Page title="Create an account">{null}</Page>;
}
export function Verify() {
  return <Page title="Verify your e-mail">{null}</Page>;
}
export function Reset() {
  return <Page title="Reset your password">{null}</Page>;
}
