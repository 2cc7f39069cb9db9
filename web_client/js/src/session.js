// Signing in to Matrix from the diary: the diary is the homeserver's OpenID provider, so the
// page goes through Synapse's single sign-on (as Element does) and, because the person is
// signed in to the diary already, comes straight back with a login token. The access token
// is kept in this browser only, per Matrix account; signing out of the diary ends it.

const KEY = (userId) => `parta.matrix.${userId}`;
const TRIED = "parta.matrix.sso-tried";

export function stored(userId) {
  try {
    const s = JSON.parse(localStorage.getItem(KEY(userId)) || "null");
    return s && s.userId === userId && s.accessToken ? s : null;
  } catch {
    return null;
  }
}

export function forget(userId) {
  localStorage.removeItem(KEY(userId));
}

/** The session: stored, or from a login token in the address, or null after a redirect. */
export async function signIn(cfg) {
  const params = new URLSearchParams(location.search);
  const token = params.get("loginToken");
  if (token) {
    params.delete("loginToken");
    const rest = params.toString();
    history.replaceState(null, "", `${location.pathname}${rest ? `?${rest}` : ""}${location.hash}`);
    const answer = await fetch(`${cfg.homeserver}/_matrix/client/v3/login`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        type: "m.login.token",
        token,
        initial_device_display_name: cfg.deviceName,
      }),
    });
    const body = await answer.json();
    if (!answer.ok || body.user_id !== cfg.userId) {
      throw new Error(body.error || `login for ${body.user_id} instead of ${cfg.userId}`);
    }
    const session = {
      userId: body.user_id,
      accessToken: body.access_token,
      deviceId: body.device_id,
    };
    localStorage.setItem(KEY(cfg.userId), JSON.stringify(session));
    sessionStorage.removeItem(TRIED);
    return session;
  }
  const known = stored(cfg.userId);
  if (known) return known;
  if (sessionStorage.getItem(TRIED)) {
    sessionStorage.removeItem(TRIED);
    throw new Error("single sign-on came back without a login token");
  }
  sessionStorage.setItem(TRIED, "1");
  const back = `${cfg.diaryUrl}${location.pathname}${location.search}${location.hash}`;
  const idp = encodeURIComponent(cfg.idp);
  location.assign(
    `${cfg.homeserver}/_matrix/client/v3/login/sso/redirect/${idp}?redirectUrl=${encodeURIComponent(back)}`,
  );
  return null;
}
