// The toolbar badge: on / off / working / not connected.

const LOOKS = {
  on: { text: "on", color: "#1b7f3b", title: "Cloaker: protecting your photos" },
  off: { text: "off", color: "#6b6b6b", title: "Cloaker: protection is off" },
  working: { text: "…", color: "#1d5fbf", title: "Cloaker: cloaking photos" },
  disconnected: { text: "!", color: "#b3261e", title: "Cloaker: the helper is not connected" },
};

/** Which look the badge should have for the cache's state. */
export function badgeState({ settings, helper }) {
  if (helper.jobs > 0) return "working";
  if (helper.connection !== "connected") return "disconnected";
  return settings.protection ? "on" : "off";
}

export async function showBadge(action, state) {
  const look = LOOKS[state];
  await action.setBadgeText({ text: look.text });
  await action.setBadgeBackgroundColor({ color: look.color });
  await action.setTitle({ title: look.title });
}
