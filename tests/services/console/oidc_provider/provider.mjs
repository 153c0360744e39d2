// A real OpenID Connect provider for the console's sign-in tests: panva's certified
// oidc-provider, on the loopback address, with the console's two clients and the
// accounts the test writes to a JSON file.
//
//   node provider.mjs PORT ACCOUNTS_FILE      (or OIDC_PORT, OIDC_ACCOUNTS_FILE)
//
// ACCOUNTS_FILE maps an account id (what a person types as "login" in the provider's
// own sign-in form) to its claims: email, email_verified, name, groups and
// signpost_organisation. It is read again at every sign-in, so a test can take a
// group away at the provider between two sign-ins.
//
// Authorization code flow only, PKCE (S256) required of every client: a console that
// did not send a code_challenge would be refused here, as a council's provider
// configured for it would. devInteractions are the provider's own login and consent
// forms; the tests post them as a browser would.

import { generateKeyPairSync } from "node:crypto";
import { readFileSync } from "node:fs";

import Provider from "oidc-provider";

const port = Number(process.argv[2] ?? process.env.OIDC_PORT);
const accountsFile = process.argv[3] ?? process.env.OIDC_ACCOUNTS_FILE;
if (!Number.isInteger(port) || port <= 0 || !accountsFile) {
  console.error("usage: node provider.mjs PORT ACCOUNTS_FILE");
  process.exit(2);
}

// The tests' console is the embedded app reached at https://signpost.
const redirectUris = ["https://signpost/console/oidc/callback"];

// A signing key made for this run: tokens from an earlier run never verify.
const signingKey = {
  ...generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "jwk" }),
  kid: `test-${Date.now()}`,
  use: "sig",
  alg: "RS256",
};

function accounts() {
  return JSON.parse(readFileSync(accountsFile, "utf8"));
}

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [
    {
      // A confidential client: the console holds CONSOLE_OIDC_CLIENT_SECRET.
      client_id: "signpost-console",
      client_secret: "a-test-secret-for-the-console-only",
      token_endpoint_auth_method: "client_secret_basic",
      grant_types: ["authorization_code"],
      response_types: ["code"],
      redirect_uris: redirectUris,
    },
    {
      // A public client: no secret, PKCE alone binds the code to the console.
      client_id: "signpost-console-public",
      token_endpoint_auth_method: "none",
      grant_types: ["authorization_code"],
      response_types: ["code"],
      redirect_uris: redirectUris,
    },
  ],
  jwks: { keys: [signingKey] },
  cookies: { keys: ["a-cookie-key-for-this-test-provider"] },
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  // The claims travel in the ID token itself (as Entra ID's groups claim does), not
  // only from the userinfo endpoint.
  conformIdTokenClaims: false,
  claims: {
    openid: ["sub"],
    email: ["email", "email_verified"],
    profile: ["name", "groups", "signpost_organisation"],
  },
  async findAccount(_ctx, id) {
    const claims = accounts()[id];
    if (!claims) {
      return undefined;
    }
    return { accountId: id, claims: async () => ({ sub: id, ...claims }) };
  },
});

const server = provider.listen(port, "127.0.0.1");
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
