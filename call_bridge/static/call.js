// The call page: a Matrix sign-in, an OpenID token for the bridge, one peer connection.
// Plain browser APIs only; every user-facing word is in T (Russian, as the seed says).

const T = {
  signedInAs: (who) => `Вы входите как ${who}`,
  signInFirst: "Чтобы войти в звонок, войдите через электронный дневник.",
  noDevices: "Браузер не дал доступ к микрофону или камере: вы в звонке без них.",
  connecting: "Подключение…",
  connected: "В звонке",
  lost: "Связь со звонком потеряна",
  reconnecting: "Связь со звонком потеряна. Подключаемся снова…",
  ended: (by) => `Звонок завершён (${by})`,
  left: "Вы вышли из звонка",
  callOver: "Звонок завершён",
  mutedBy: (by) => `${by} выключил(а) ваш микрофон`,
  you: "вы",
  hand: " · рука поднята",
  micOff: " · без звука",
  mute: "Выключить микрофон",
  lowerHand: "Опустить руку",
  moderator: "ведущий",
  screenOf: (name) => `${name}: экран`,
  sessionExpired: "Вход истёк: войдите снова.",
  unavailable: "Сервер звонков недоступен, попробуйте через минуту.",
};

const config = JSON.parse(document.getElementById("call-config").textContent);
const root = document.getElementById("call");
const $ = (selector) => root.querySelector(selector);
const SESSION = "parta.matrix";

const state = {
  session: null, ws: null, pc: null, me: null, moderator: false,
  local: { audio: null, video: null, screen: null },
  slots: { audio: null, camera: null, screen: null },
  streams: {}, media: {}, participants: [],
  mic: true, camera: true, hand: false,
};

function show(message) {
  const box = $('[data-testid="message"]');
  box.textContent = message;
  box.hidden = !message;
}

function setStatus(text) { $('[data-testid="status"]').textContent = text; }

async function matrixSession() {
  const saved = sessionStorage.getItem(SESSION);
  if (saved) return JSON.parse(saved);
  const params = new URLSearchParams(location.search);
  const loginToken = params.get("loginToken");
  if (!loginToken) return null;
  params.delete("loginToken");
  history.replaceState(null, "", location.pathname + (params.size ? `?${params}` : ""));
  const answer = await fetch(`${config.homeserver}/_matrix/client/v3/login`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ type: "m.login.token", token: loginToken }),
  });
  if (!answer.ok) return null;
  const body = await answer.json();
  const session = { homeserver: config.homeserver, user_id: body.user_id, access_token: body.access_token };
  sessionStorage.setItem(SESSION, JSON.stringify(session));
  return session;
}

/** The person's display name on their homeserver (their Matrix id if it has none). */
async function displayName(s) {
  try {
    const answer = await fetch(
      `${s.homeserver}/_matrix/client/v3/profile/${encodeURIComponent(s.user_id)}/displayname`,
      { headers: { Authorization: `Bearer ${s.access_token}` } },
    );
    if (answer.ok) return (await answer.json()).displayname || s.user_id;
  } catch (e) { /* the id will do */ }
  return s.user_id;
}

function signIn() {
  const back = location.origin + location.pathname;
  location.href = `${config.homeserver}/_matrix/client/v3/login/sso/redirect?redirectUrl=${encodeURIComponent(back)}`;
}

async function openidToken() {
  const s = state.session;
  const answer = await fetch(
    `${s.homeserver}/_matrix/client/v3/user/${encodeURIComponent(s.user_id)}/openid/request_token`,
    { method: "POST", headers: { Authorization: `Bearer ${s.access_token}`, "Content-Type": "application/json" }, body: "{}" },
  );
  if (answer.status === 401) {
    sessionStorage.removeItem(SESSION);
    throw new Error(T.sessionExpired);
  }
  return answer.json();
}

function send(message) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(message));
}

async function localMedia(withVideo) {
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: withVideo });
    state.local.audio = stream.getAudioTracks()[0] || null;
    state.local.video = stream.getVideoTracks()[0] || null;
  } catch (e) {
    show(T.noDevices);
  }
  state.camera = Boolean(state.local.video);
  state.mic = Boolean(state.local.audio);
}

async function join(withVideo) {
  for (const b of root.querySelectorAll(".choices button")) b.disabled = true;
  show(T.connecting);
  try {
    await localMedia(withVideo);
    const { wsUrl, token } = await place();
    await connect(wsUrl, token);
  } catch (e) {
    show(e.message || String(e));
    for (const b of root.querySelectorAll(".choices button")) b.disabled = false;
  }
}

async function place() {
  const token = await openidToken();
  const placed = await fetch(`/api/v1/place?call=${encodeURIComponent(config.call)}`);
  const where = await placed.json();
  if (!placed.ok) throw new Error(where.error || T.unavailable);
  return { wsUrl: where.ws_url, token };
}

// A worker that went away (killed, restarted): the page is placed again, on a live one,
// with the same camera and microphone, and tries a few times before it gives up.
const RECONNECT_MS = [1000, 2000, 4000, 8000, 15000];

async function reconnect() {
  root.dataset.state = "lost";
  setStatus(T.reconnecting);
  state.pc?.close();
  Object.assign(state, {
    ws: null, pc: null, slots: { audio: null, camera: null, screen: null }, streams: {}, media: {},
  });
  $('[data-testid="stage"]').replaceChildren();
  for (const wait of RECONNECT_MS) {
    await new Promise((resolve) => setTimeout(resolve, wait));
    if (root.dataset.state !== "lost") return;  // left or ended meanwhile
    try {
      const { wsUrl, token } = await place();
      await connect(wsUrl, token);
      show("");
      return;
    } catch (e) {
      state.ws = null;
    }
  }
  setStatus(T.lost);
  show(T.unavailable);
}

function connect(wsUrl, token) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl);
    state.ws = ws;
    ws.onopen = () => ws.send(JSON.stringify({ type: "join", call: config.call, token }));
    ws.onclose = () => {
      reject(new Error(T.unavailable));  // closed before the welcome: a failed try
      if (state.ws === ws && root.dataset.state === "in-call") reconnect();
    };
    ws.onerror = () => reject(new Error(T.unavailable));
    let queue = Promise.resolve();  // one message at a time, in order
    ws.onmessage = (event) => {
      const message = JSON.parse(event.data);
      queue = queue.then(async () => {
        if (message.type === "refused") { reject(new Error(message.reason)); return; }
        if (message.type === "welcome") { await welcome(message); resolve(); return; }
        await handle(message);
      }).catch((e) => show(e.message || String(e)));
    };
  });
}

async function welcome(message) {
  state.me = message.you;
  state.moderator = message.moderator;
  state.participants = message.participants;
  $('[data-testid="title"]').textContent = message.title;
  document.title = `${message.title} — parta`;
  $('[data-action="end"]').hidden = !state.moderator;
  $('[data-testid="chat-note"]').hidden = message.chat_mirrored !== false;
  $('[data-testid="moderation"]').hidden = !state.moderator;
  $('[data-testid="prejoin"]').hidden = true;
  $('[data-testid="room"]').hidden = false;
  root.dataset.state = "in-call";
  setStatus(T.connected);
  const pc = new RTCPeerConnection({ iceServers: message.ice_servers, bundlePolicy: "max-bundle" });
  state.pc = pc;
  pc.ontrack = (event) => {
    const mid = event.transceiver.mid;
    state.media[mid] = new MediaStream([event.track]);
    render();
  };
  send({ type: "state", muted_audio: !state.mic, muted_video: !state.camera });
  pressed("camera", state.camera);
  pressed("mic", state.mic);
  await listDevices();
  render();
}

async function handle(message) {
  const pc = state.pc;
  switch (message.type) {
    case "offer":
      // Only the bridge offers; its first offer holds this page's three sending slots.
      state.streams = message.streams;
      await pc.setRemoteDescription({ type: "offer", sdp: message.sdp });
      for (const t of pc.getTransceivers()) {
        const source = message.publish[t.mid];
        if (!source) continue;
        if (!state.slots[source]) {
          state.slots[source] = t;
          const track = source === "audio" ? (state.mic ? state.local.audio : null)
            : source === "camera" ? (state.camera ? state.local.video : null) : state.local.screen;
          await t.sender.replaceTrack(track);
        }
        t.direction = "sendonly";
      }
      await pc.setLocalDescription(await pc.createAnswer());
      send({ type: "answer", sdp: pc.localDescription.sdp });
      render();
      break;
    case "streams":
      state.streams = message.streams;
      render();
      break;
    case "participants":
      state.participants = message.participants;
      render();
      break;
    case "chat":
      addChat(message);
      break;
    case "error":
      show(message.reason);
      break;
    case "mute":
      await setMic(false);
      show(T.mutedBy(message.by));
      break;
    case "ended":
      finish(T.ended(message.by));
      break;
    default:
      break;
  }
}

function pressed(action, on) {
  const button = $(`[data-action="${action}"]`);
  if (button) button.setAttribute("aria-pressed", String(Boolean(on)));
}

function midOf(participant, source) {
  return Object.keys(state.streams).find((mid) => {
    const owner = state.streams[mid];
    return owner && owner.participant === participant && owner.source === source;
  });
}

function tile(key, name, stream, muted) {
  const stage = $('[data-testid="stage"]');
  let box = stage.querySelector(`[data-tile="${key}"]`);
  if (!box) {
    box = document.createElement("figure");
    box.className = "tile";
    box.dataset.tile = key;
    const video = document.createElement("video");
    video.autoplay = true;
    video.playsInline = true;
    video.muted = true;
    const label = document.createElement("figcaption");
    label.className = "name";
    const badges = document.createElement("span");
    badges.className = "badges";
    box.append(video, label, badges);
    stage.append(box);
  }
  const video = box.querySelector("video");
  if (stream && video.srcObject !== stream) video.srcObject = stream;
  if (!stream) video.srcObject = null;
  box.querySelector(".name").textContent = name;
  box.dataset.live = stream ? "yes" : "no";
  return box;
}

function render() {
  if (!state.me) return;
  const stage = $('[data-testid="stage"]');
  const keep = new Set();
  let speaker = null;
  for (const p of state.participants) {
    const mine = p.id === state.me;
    const stream = mine
      ? (state.local.video && state.camera ? new MediaStream([state.local.video]) : null)
      : state.media[midOf(p.id, "camera")] || null;
    const key = `camera-${p.id}`;
    const existing = stage.querySelector(`[data-tile="${key}"] video`);
    const reuse = mine && existing && existing.srcObject && state.camera ? existing.srcObject : stream;
    const box = tile(key, mine ? `${p.name} (${T.you})` : p.name, reuse, true);
    box.dataset.participant = p.id;
    box.querySelector(".badges").textContent = `${p.hand ? T.hand : ""}${p.muted_audio ? T.micOff : ""}`.replace(/^ · /, "");
    keep.add(key);
    if (!mine && p.moderator && !speaker) speaker = box;
    const screenMid = midOf(p.id, "screen");
    if (!mine && screenMid && state.media[screenMid]) {
      const screen = tile(`screen-${p.id}`, T.screenOf(p.name), state.media[screenMid], true);
      keep.add(`screen-${p.id}`);
      speaker = screen;
    }
    const audioMid = midOf(p.id, "audio");
    if (!mine && audioMid && state.media[audioMid]) playAudio(audioMid);
  }
  for (const box of stage.querySelectorAll("[data-tile]")) {
    box.classList.remove("main");
    if (!keep.has(box.dataset.tile)) box.remove();
  }
  (speaker || stage.querySelector("[data-tile]"))?.classList.add("main");
  renderPeople();
}

function playAudio(mid) {
  let player = document.querySelector(`audio[data-mid="${mid}"]`);
  if (!player) {
    player = document.createElement("audio");
    player.autoplay = true;
    player.dataset.mid = mid;
    document.body.append(player);
  }
  if (player.srcObject !== state.media[mid]) player.srcObject = state.media[mid];
}

function renderPeople() {
  const list = $('[data-testid="people"]');
  list.replaceChildren();
  for (const p of state.participants) {
    const item = document.createElement("li");
    const name = document.createElement("span");
    name.textContent = `${p.name}${p.id === state.me ? ` (${T.you})` : ""}${p.moderator ? ` — ${T.moderator}` : ""} ${p.hand ? T.hand : ""}${p.muted_audio ? T.micOff : ""}`;
    item.append(name);
    if (state.moderator && p.id !== state.me) {
      if (!p.muted_audio) item.append(moderate(T.mute, "mute", p.id));
      if (p.hand) item.append(moderate(T.lowerHand, "lower_hand", p.id));
    }
    list.append(item);
  }
}

function moderate(label, action, target) {
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = label;
  button.onclick = () => send({ type: "moderate", action, target });
  return button;
}

function addChat(message) {
  const item = document.createElement("li");
  const who = document.createElement("b");
  who.textContent = `${message.name}: `;
  who.title = message.user || "";  // the Matrix id: a display name can be anything
  item.append(who, document.createTextNode(message.text));
  $('[data-testid="chat-log"]').append(item);
}

async function setMic(on) {
  state.mic = Boolean(on && state.local.audio);
  await state.slots.audio.sender.replaceTrack(state.mic ? state.local.audio : null);
  pressed("mic", state.mic);
  send({ type: "state", muted_audio: !state.mic });
}

async function setCamera(on) {
  state.camera = Boolean(on && state.local.video);
  await state.slots.camera.sender.replaceTrack(state.camera ? state.local.video : null);
  pressed("camera", state.camera);
  send({ type: "state", muted_video: !state.camera });
  render();
}

async function toggleScreen() {
  if (state.local.screen) {
    state.local.screen.stop();
    state.local.screen = null;
    await state.slots.screen.sender.replaceTrack(null);
    pressed("screen", false);
    send({ type: "state", sharing: false });
    return;
  }
  try {
    const shared = await navigator.mediaDevices.getDisplayMedia({ video: true });
    const track = shared.getVideoTracks()[0];
    state.local.screen = track;
    track.onended = () => { if (state.local.screen === track) toggleScreen(); };
    await state.slots.screen.sender.replaceTrack(track);
    pressed("screen", true);
    send({ type: "state", sharing: true });
  } catch (e) {
    show(e.message || String(e));
  }
}

function togglePanel(name) {
  for (const panel of root.querySelectorAll("[data-panel]")) {
    const open = panel.dataset.panel === name && panel.hidden;
    panel.hidden = !open;
    pressed(panel.dataset.panel, open);
  }
}

async function listDevices() {
  const devices = await navigator.mediaDevices.enumerateDevices();
  for (const [kind, select] of [["audioinput", "mic-choice"], ["videoinput", "cam-choice"]]) {
    const box = document.getElementById(select);
    box.replaceChildren(...devices.filter((d) => d.kind === kind).map((d, i) => new Option(d.label || `${kind} ${i + 1}`, d.deviceId)));
  }
}

async function chooseDevice(kind, deviceId) {
  const constraints = kind === "audio" ? { audio: { deviceId: { exact: deviceId } } } : { video: { deviceId: { exact: deviceId } } };
  const track = (await navigator.mediaDevices.getUserMedia(constraints)).getTracks()[0];
  if (kind === "audio") {
    state.local.audio?.stop();
    state.local.audio = track;
    await setMic(state.mic);
  } else {
    state.local.video?.stop();
    state.local.video = track;
    await setCamera(state.camera);
  }
}

/** Out of the call: nothing of it left on screen, what happened, and the way back. */
function finish(reason) {
  root.dataset.state = "ended";
  send({ type: "leave" });
  state.ws?.close();
  state.pc?.close();
  for (const track of Object.values(state.local)) track?.stop();
  state.local = { audio: null, video: null, screen: null };
  $('[data-testid="stage"]').replaceChildren();
  $('[data-testid="chat-log"]').replaceChildren();
  $('[data-testid="people"]').replaceChildren();
  root.classList.remove("minimised");
  pressed("minimise", false);
  const dialog = $('[data-testid="confirm-end"]');
  if (dialog.open) dialog.close();
  $('[data-testid="room"]').hidden = true;
  $('[data-testid="prejoin"]').hidden = true;
  $('[data-testid="left"]').hidden = false;
  $('[data-testid="left-reason"]').textContent = reason === T.left ? "" : reason;
  $('[data-testid="left-title"]').textContent = reason === T.left ? T.left : T.callOver;
  document.title = "Звонок — parta";
  show("");
}

function back() {
  // a fresh start: nothing of the call that was left is carried into the next one
  Object.assign(state, {
    ws: null, pc: null, me: null, moderator: false,
    slots: { audio: null, camera: null, screen: null },
    streams: {}, media: {}, participants: [], mic: true, camera: true, hand: false,
  });
  pressed("hand", false);
  for (const b of root.querySelectorAll(".choices button")) b.disabled = false;
  $('[data-testid="left"]').hidden = true;
  $('[data-testid="prejoin"]').hidden = false;
  root.dataset.state = "ready";
}

const actions = {
  "sign-in": signIn,
  "join-video": () => join(true),
  "join-audio": () => join(false),
  chat: () => togglePanel("chat"),
  people: () => togglePanel("people"),
  settings: () => togglePanel("settings"),
  screen: toggleScreen,
  hand: () => { state.hand = !state.hand; pressed("hand", state.hand); send({ type: "hand", raised: state.hand }); },
  camera: () => setCamera(!state.camera),
  mic: () => setMic(!state.mic),
  leave: () => finish(T.left),
  back,
  end: () => $('[data-testid="confirm-end"]').showModal(),
  "end-confirmed": () => { $('[data-testid="confirm-end"]').close(); send({ type: "moderate", action: "end" }); },
  "end-cancelled": () => $('[data-testid="confirm-end"]').close(),
  layout: () => {
    const stage = $('[data-testid="stage"]');
    stage.dataset.layout = stage.dataset.layout === "grid" ? "speaker" : "grid";
    pressed("layout", stage.dataset.layout === "speaker");
  },
  minimise: () => { root.classList.toggle("minimised"); pressed("minimise", root.classList.contains("minimised")); },
  maximise: () => { root.classList.remove("minimised"); document.documentElement.requestFullscreen?.().catch(() => {}); },
  "mute-all": () => send({ type: "moderate", action: "mute_all" }),
  "lower-hands": () => send({ type: "moderate", action: "lower_hands" }),
};

root.addEventListener("click", (event) => {
  const button = event.target.closest("[data-action]");
  if (button && actions[button.dataset.action]) actions[button.dataset.action]();
});
$('[data-testid="chat-form"]').addEventListener("submit", (event) => {
  event.preventDefault();
  const input = event.target.elements.text;
  if (input.value.trim()) send({ type: "chat", text: input.value });
  input.value = "";
});
document.getElementById("mic-choice").addEventListener("change", (e) => chooseDevice("audio", e.target.value));
document.getElementById("cam-choice").addEventListener("change", (e) => chooseDevice("video", e.target.value));
window.addEventListener("pagehide", () => send({ type: "leave" }));

(async () => {
  state.session = await matrixSession();
  if (state.session) {
    const who = $('[data-testid="who"]');
    who.textContent = T.signedInAs(await displayName(state.session));
    who.title = state.session.user_id;
    $('[data-action="join-video"]').hidden = false;
    $('[data-action="join-audio"]').hidden = false;
  } else {
    show(T.signInFirst);
    $('[data-action="sign-in"]').hidden = false;
  }
  root.dataset.state = "ready";
})();
