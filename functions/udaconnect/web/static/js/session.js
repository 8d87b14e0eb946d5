// Who is signed in: the bearer token (sessionStorage: this tab only, gone with it), what its payload says, and
// why the last sign-in ended. The payload is read, never trusted: the API checks the token on every call.
import config from "/config.js";

const TOKEN = "udaconnect.token";
const REASON = "udaconnect.signed-out";

/** The JWT's payload as an object, or null when `token` is not a JWT (the signature is the API's to check). */
export function claimsOf(token) {
  const part = String(token || "").split(".")[1];
  if (!part) return null;
  try {
    const base64 = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return claims && typeof claims === "object" ? claims : null;
  } catch {
    return null;
  }
}

/** {token, role, personId, expires} for an attendee's or an organizer's token; null for anything else (a
 * device's token, a stranger's JWT). An OpenID Connect issuer's token names them in its configured claims. */
export function principalOf(token, oidc = config.oidc) {
  const claims = claimsOf(token);
  if (!claims) return null;
  let role = claims.role;
  let person = claims.person;
  if (oidc?.issuer && claims.iss === oidc.issuer) {
    const roles = claims[oidc.roles_claim];
    const list = typeof roles === "string" ? roles.split(/\s+/) : Array.isArray(roles) ? roles : [];
    role = list.includes("organizer") ? "organizer" : "attendee";
    person = claims[oidc.person_claim];
  }
  const expires = Number.isFinite(claims.exp) ? claims.exp : null;
  if (role === "organizer") return { token, role, personId: null, expires };
  const id = String(person ?? "");
  if (role === "attendee" && /^[1-9]\d*$/.test(id)) return { token, role, personId: id, expires };
  return null;
}

/** The token of a sign-in link (`...#token=<jwt>`), taken out of the address bar and its history entry. */
export function takeTokenLink(loc = window.location) {
  const token = new URLSearchParams(loc.hash.slice(1)).get("token");
  if (token === null) return null;
  history.replaceState(history.state, "", loc.pathname + loc.search);
  return token;
}

/** Keeps `token` for this tab; the principal it names, or null (then signed out, saying why). */
export function signIn(token) {
  const principal = principalOf(token);
  if (!principal) {
    signOut("That sign-in link holds no attendee's or organizer's sign-in: ask for a new one.");
    return null;
  }
  sessionStorage.setItem(TOKEN, token);
  sessionStorage.removeItem(REASON);
  return principal;
}

export function signOut(reason = "") {
  sessionStorage.removeItem(TOKEN);
  if (reason) sessionStorage.setItem(REASON, reason);
  else sessionStorage.removeItem(REASON);
}

/** The signed-in principal, or null. */
export function current() {
  const token = sessionStorage.getItem(TOKEN);
  return token ? principalOf(token) : null;
}

/** The bearer token every API call sends ("" when signed out). */
export function bearer() {
  return sessionStorage.getItem(TOKEN) || "";
}

/** Why the last sign-in ended ("" after a plain sign out). */
export function signedOutReason() {
  return sessionStorage.getItem(REASON) || "";
}
