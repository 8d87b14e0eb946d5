// Sign-in with the conference's OpenID Connect issuer: the authorization code flow with PKCE (S256) and a state
// check, each step done by oauth4webapi (npm, served under /vendor/ like the map library), none by hand here.
// The issuer's access token is then the bearer token: the API verifies it against the issuer's published keys.
import * as oauth from "/vendor/oauth4webapi/index.js";

/** Where the issuer sends the browser back to (an extension-less path: the web target answers it with the app). */
export const CALLBACK_PATH = "/auth/callback";
// What a started sign-in keeps until the issuer sends the browser back (this tab only).
const PENDING = "udaconnect.oidc-pending";

const redirectUri = () => `${location.origin}${CALLBACK_PATH}`;

// oauth4webapi refuses plain http; an issuer on this machine (a developer's, the tests') is allowed it.
function options(issuer) {
  const url = new URL(issuer);
  const loopback = ["localhost", "127.0.0.1", "[::1]"].includes(url.hostname);
  return url.protocol === "http:" && loopback ? { [oauth.allowInsecureRequests]: true } : {};
}

/** The issuer's endpoints: as configured, else from its discovery document. */
async function server(oidc) {
  if (oidc.authorization_endpoint && oidc.token_endpoint) {
    return { issuer: oidc.issuer, authorization_endpoint: oidc.authorization_endpoint,
      token_endpoint: oidc.token_endpoint };
  }
  const issuer = new URL(oidc.issuer);
  return oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, options(oidc.issuer)));
}

/** Sends the browser to the issuer's sign-in; `returnTo` is where the client opens once back. */
export async function startSignIn(oidc, returnTo = "/") {
  const as = await server(oidc);
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, returnTo }));
  const url = new URL(as.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: "code", client_id: oidc.client_id, redirect_uri: redirectUri(), scope: oidc.scope || "openid",
    state, code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: "S256",
  }).toString();
  location.assign(url.href);
}

/** The issuer sent the browser back to `here`: {token, returnTo}, once the state matches the one this tab sent
 * and the code is exchanged (with the PKCE verifier); an Error saying what went wrong otherwise. */
export async function finishSignIn(oidc, here = new URL(location.href)) {
  const pending = JSON.parse(sessionStorage.getItem(PENDING) || "null");
  sessionStorage.removeItem(PENDING); // one use: a reloaded or replayed callback starts over
  if (!pending?.verifier || !pending?.state) throw new Error("this tab started no sign-in; sign in again");
  const as = await server(oidc);
  const client = { client_id: oidc.client_id };
  const params = oauth.validateAuthResponse(as, client, here, pending.state);
  const response = await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, redirectUri(),
    pending.verifier, options(oidc.issuer));
  const result = await oauth.processAuthorizationCodeResponse(as, client, response);
  return { token: result.access_token, returnTo: pending.returnTo || "/" };
}
