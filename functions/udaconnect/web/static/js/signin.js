// The sign-in screen (why the last sign-in ended, how to get a link, the issuer's button) and the header's
// "signed in as ... / Sign out".
import { h } from "./dom.js";

/** The screen shown without a token: never a broken page. `onOidc` is set when an issuer is configured. */
export function signInScreen({ reason = "", issuer = "", onOidc = null } = {}) {
  const host = issuer ? new URL(issuer).host : "";
  return h("section", { class: "signin", "data-testid": "signin", "aria-labelledby": "signin-title" },
    h("h2", { id: "signin-title", tabindex: "-1" }, "Sign in to UdaConnect"),
    reason ? h("p", { class: "problem", role: "alert", "data-testid": "signin-reason" }, reason) : null,
    onOidc
      ? h("p", {}, h("button", { type: "button", class: "primary", "data-testid": "oidc-signin", onclick: onOidc },
          `Sign in with ${host}`))
      : null,
    h("p", {}, onOidc ? "Or open the sign-in link you were given." : "Open the sign-in link you were given: "
      + "it shows the people you met, and no one else sees them."),
    h("p", { class: "muted" }, "No link? Whoever runs UdaConnect makes one with ",
      h("code", {}, "udaconnect token --person ID --link"), " (an organizer\u2019s with ",
      h("code", {}, "udaconnect token --organizer --link"), ")."));
}

/** "Organizer" or "Attendee 5", and the Sign out button. */
export function sessionBar(principal, onSignOut) {
  const who = principal.role === "organizer" ? "Organizer" : `Attendee ${principal.personId}`;
  return [
    h("span", { class: "who", "data-testid": "signed-in-as" }, who),
    h("button", { type: "button", class: "secondary sign-out", "data-testid": "sign-out", onclick: onSignOut },
      "Sign out"),
  ];
}
