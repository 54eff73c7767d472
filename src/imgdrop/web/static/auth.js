// Sign-in and sign-up forms: POST /api/login or /api/signup. Every problem is shown at once,
// beside the field it is about.
import { api } from "./api.js";

const form = document.getElementById("auth-form");
const errorBox = document.getElementById("form-error");
const submit = document.getElementById("submit");
const signup = form.dataset.mode === "signup";
const USERNAME = /^[A-Za-z0-9_.-]{3,32}$/;
const MIN_PASSWORD = Number(form.dataset.minPassword) || 0; // the server's own setting

function showField(name, message) {
  const box = document.getElementById(`${name}-error`);
  box.textContent = message;
  box.hidden = !message;
  form.elements[name].setAttribute("aria-invalid", String(Boolean(message)));
}

function showForm(message) {
  errorBox.textContent = message;
  errorBox.hidden = !message;
}

// The problems the browser can see by itself, per field ("" when fine).
function check(credentials) {
  const problems = { username: "", password: "" };
  if (!credentials.username) problems.username = "Enter a username.";
  else if (signup && !USERNAME.test(credentials.username)) {
    problems.username = "Use 3 to 32 letters, digits, dots, dashes or underscores.";
  }
  if (!credentials.password) problems.password = "Enter a password.";
  else if (signup && credentials.password.length < MIN_PASSWORD) {
    problems.password = `Use at least ${MIN_PASSWORD} characters.`;
  }
  return problems;
}

// A server refusal goes beside the field it names, else above the form.
function placeServerError(error) {
  const text = error.message;
  if (signup && /password/i.test(text)) showField("password", text);
  else if (signup && /username|name is taken|already/i.test(text)) showField("username", text);
  else showForm(text);
}

async function onSubmit(event) {
  event.preventDefault();
  showForm("");
  const credentials = {
    username: form.elements.username.value.trim(),
    password: form.elements.password.value,
  };
  const problems = check(credentials);
  showField("username", problems.username);
  showField("password", problems.password);
  const first = ["username", "password"].find((name) => problems[name]);
  if (first) {
    form.elements[first].focus();
    return;
  }
  submit.disabled = true;
  try {
    if (signup) {
      await api("POST", "/api/signup", credentials);
      const next = new URL("/signin", window.location.href);
      next.searchParams.set("created", credentials.username);
      window.location.assign(next.href);
    } else {
      await api("POST", "/api/login", credentials);
      window.location.assign("/");
    }
  } catch (error) {
    placeServerError(error);
    submit.disabled = false;
  }
}

form.addEventListener("submit", onSubmit);
