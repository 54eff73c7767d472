// The account page: change password, sign out everywhere, delete the account (JSON API).
import { api } from "./api.js";

function showFieldError(id, message) {
  const box = document.getElementById(`${id}-error`);
  const input = document.getElementById(id);
  box.textContent = message;
  box.hidden = !message;
  if (input) input.setAttribute("aria-invalid", message ? "true" : "false");
  if (message && input) input.focus();
}

// A wrong current password (403) belongs to the password field; a weak new one to the other.
function placeError(error, currentField, otherField) {
  if (error.status === 403 && error.code === "forbidden" && !/CSRF/.test(error.message)) {
    showFieldError(currentField, error.message);
  } else {
    showFieldError(otherField, error.message);
  }
}

async function changePassword(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const done = document.getElementById("password-done");
  const submit = document.getElementById("password-submit");
  done.hidden = true;
  showFieldError("current-password", "");
  showFieldError("new-password", "");
  const body = {
    currentPassword: form.elements.currentPassword.value,
    newPassword: form.elements.newPassword.value,
  };
  if (!body.currentPassword) return showFieldError("current-password", "Enter your current password.");
  if (!body.newPassword) return showFieldError("new-password", "Enter a new password.");
  submit.disabled = true;
  try {
    const answer = await api("POST", "/api/account/password", body);
    form.reset();
    const others = answer.endedSessions;
    done.textContent = `Password changed. ${others} other session${others === 1 ? "" : "s"} signed out.`;
    done.hidden = false;
  } catch (error) {
    placeError(error, "current-password", "new-password");
  } finally {
    submit.disabled = false;
  }
}

async function signOutEverywhere() {
  showFieldError("signout", "");
  try {
    await api("POST", "/api/account/signout-all");
    window.location.assign("/signin?signedout=everywhere");
  } catch (error) {
    showFieldError("signout", error.message);
  }
}

async function deleteAccount(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const submit = document.getElementById("delete-submit");
  showFieldError("delete-password", "");
  const password = form.elements.password.value;
  if (!password) return showFieldError("delete-password", "Enter your password to confirm.");
  if (!window.confirm("Delete your account and every photo in it? This cannot be undone.")) return;
  submit.disabled = true;
  try {
    await api("DELETE", "/api/account", { password });
    window.location.assign("/signup");
  } catch (error) {
    showFieldError("delete-password", error.message);
    submit.disabled = false;
  }
}

document.getElementById("password-form").addEventListener("submit", changePassword);
document.getElementById("signout-all").addEventListener("click", signOutEverywhere);
document.getElementById("delete-form").addEventListener("submit", deleteAccount);
