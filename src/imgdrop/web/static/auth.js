// Sign-in and sign-up forms: POST /api/login or /api/signup, errors shown inline.
import { api } from "./api.js";

const form = document.getElementById("auth-form");
const errorBox = document.getElementById("form-error");
const submit = document.getElementById("submit");

function showError(message) {
  errorBox.textContent = message;
  errorBox.hidden = false;
}

async function onSubmit(event) {
  event.preventDefault();
  errorBox.hidden = true;
  const credentials = {
    username: form.elements.username.value.trim(),
    password: form.elements.password.value,
  };
  if (!credentials.username || !credentials.password) {
    showError("Enter a username and a password.");
    return;
  }
  submit.disabled = true;
  try {
    if (form.dataset.mode === "signup") {
      await api("POST", "/api/signup", credentials);
      const next = new URL("/signin", window.location.href);
      next.searchParams.set("created", credentials.username);
      window.location.assign(next.href);
    } else {
      await api("POST", "/api/login", credentials);
      window.location.assign("/");
    }
  } catch (error) {
    showError(error.message);
    submit.disabled = false;
  }
}

form.addEventListener("submit", onSubmit);
