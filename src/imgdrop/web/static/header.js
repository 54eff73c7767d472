// The header of every signed-in page: who is signed in (from GET /api/me) and signing out.
import { api } from "./api.js";

// The server's word, not a name remembered from the sign-in form: right after a reload, in
// a second tab, and when someone else signed in on this browser since.
async function showWho() {
  const who = document.getElementById("who");
  if (!who) return;
  try {
    const me = await api("GET", "/api/me");
    who.textContent = `Signed in as ${me.username}`;
    who.title = who.textContent; // the whole name where a phone shortens it
    who.hidden = false;
  } catch {
    // Offline: leave the name out. A lost session already went back to sign-in (api.js).
  }
}

async function signOut() {
  try {
    await api("POST", "/api/logout");
  } finally {
    localStorage.removeItem("imgdrop.username"); // remembered by earlier versions
    window.location.assign("/signin?signedout=1");
  }
}

const button = document.getElementById("signout");
if (button) button.addEventListener("click", signOut);
showWho();
