// The login page: posts user and password to /v1/login (which sets the session cookie), then
// goes back to the page that sent the user here (?next=, only a path of this site).
"use strict";

const TEXT = {
  id: {
    title: "Masuk ke ruang kendali", user: "Nama pengguna", password: "Kata sandi", login: "Masuk",
    logout: "Keluar", back: "Kembali ke papan situasi", failed: "Nama pengguna atau kata sandi salah.",
    error: "Gagal masuk, coba lagi.", as: "Masuk sebagai", role: "peran",
    roles: { viewer: "pemantau", analyst: "analis", commander: "komandan", admin: "admin" },
  },
  en: {
    title: "Log in to the control room", user: "User name", password: "Password", login: "Log in",
    logout: "Log out", back: "Back to the situation board", failed: "Wrong user name or password.",
    error: "Could not log in, please try again.", as: "Logged in as", role: "role",
    roles: { viewer: "viewer", analyst: "analyst", commander: "commander", admin: "admin" },
  },
};

const state = { lang: localStorage.getItem("sitrep.lang") === "en" ? "en" : "id", me: null };
const $ = (id) => document.getElementById(id);
const t = (key) => TEXT[state.lang][key] || key;

// Only a path on this site: "//host" or "/\host" would leave it (an open redirect).
function nextPath() {
  const wanted = new URLSearchParams(location.search).get("next") || "/";
  const safe = wanted.startsWith("/") && !wanted.startsWith("//") && !wanted.startsWith("/\\");
  return safe ? wanted : "/";
}

function render() {
  document.documentElement.lang = state.lang;
  document.title = `sitrep — ${t("login")}`;
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  $("lang").textContent = state.lang === "id" ? "EN" : "ID";
  $("back").href = nextPath();
  const who = $("who");
  who.hidden = !state.me;
  $("logout").hidden = !state.me;
  if (state.me) who.textContent = `${t("as")} ${state.me.name} (${t("role")}: ${TEXT[state.lang].roles[state.me.role] || state.me.role})`;
}

async function loadMe() {
  const response = await fetch("/v1/me", { headers: { Accept: "application/json" } });
  state.me = response.ok ? await response.json() : null;
  render();
}

async function logIn(event) {
  event.preventDefault();
  $("message").textContent = "";
  $("submit").disabled = true;
  try {
    const response = await fetch(`/v1/login?lang=${state.lang}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ user: $("user").value.trim(), password: $("password").value }),
    });
    if (response.ok) {
      location.assign(nextPath());
      return;
    }
    if (response.status === 429) {
      // Too many failed logins: the server says how long to wait, in the page's language.
      const problem = await response.json().catch(() => ({}));
      $("message").textContent = (problem.error && problem.error.message) || t("error");
      return;
    }
    $("message").textContent = response.status === 401 ? t("failed") : t("error");
  } catch (error) {
    $("message").textContent = t("error");
  } finally {
    $("password").value = "";
    $("submit").disabled = false;
  }
}

async function logOut() {
  await fetch("/v1/logout", { method: "POST" });
  state.me = null;
  render();
}

$("login-form").addEventListener("submit", logIn);
$("logout").addEventListener("click", logOut);
$("lang").addEventListener("click", () => {
  state.lang = state.lang === "id" ? "en" : "id";
  localStorage.setItem("sitrep.lang", state.lang);
  render();
});
render();
loadMe();
