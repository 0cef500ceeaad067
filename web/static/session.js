// Who is signed in on this page: the email, or null when signed out. Importers see the live value.

export let signedInAs = null;

export function setSignedInAs(email) {
  signedInAs = email;
}
