// journeyprobe record: reports what a person does in the page to the recorder (a Playwright binding).
// Installed as an init script in every frame; only the top frame reports. Values typed into secret
// fields (passwords, card numbers, one-time codes) are never sent: only which field it was.
(() => {
  if (window.__journeyprobeRecorder || window.top !== window) return;
  window.__journeyprobeRecorder = true;

  const TEST_IDS = ["data-testid", "data-test-id", "data-test", "data-qa"];
  const SECRET_AUTOCOMPLETE = /\b(current-password|new-password|one-time-code|cc-number|cc-csc)\b/;
  const TEXT_TYPES = ["", "text", "email", "tel", "url", "search", "number", "date", "time",
                      "datetime-local", "month", "week", "color", "range", "password"];
  const INTERACTIVE = "button, a[href], input, select, textarea, summary, label, [role=button], [role=link], " +
                      "[role=checkbox], [role=radio], [role=tab], [role=menuitem], [role=option], [role=switch]";

  const send = (event) => {
    try { window.__journeyprobeRecord(JSON.stringify(event)); } catch (e) { /* the recorder went away */ }
  };
  const norm = (s) => (s || "").replace(/\s+/g, " ").trim();
  const quote = (s) => JSON.stringify(s);
  const visible = (el) => (el.checkVisibility ? el.checkVisibility() : el.getClientRects().length > 0);
  const count = (css) => { try { return document.querySelectorAll(css).length; } catch (e) { return 0; } };
  const stableId = (id) => id && !/\d{3,}|[0-9a-f]{8,}|^(ember|react|ng-|mui|radix|headlessui)|:/i.test(id);

  function roleOf(el) {
    const explicit = el.getAttribute("role");
    if (explicit) return explicit.split(/\s+/)[0];
    const tag = el.tagName.toLowerCase();
    const type = (el.getAttribute("type") || "").toLowerCase();
    if (tag === "button" || tag === "summary") return "button";
    if (tag === "a" && el.hasAttribute("href")) return "link";
    if (tag === "textarea") return "textbox";
    if (tag === "select") return el.multiple || el.size > 1 ? "listbox" : "combobox";
    if (/^h[1-6]$/.test(tag)) return "heading";
    if (tag !== "input") return null;
    if (["button", "submit", "reset", "image"].includes(type)) return "button";
    if (type === "checkbox") return "checkbox";
    if (type === "radio") return "radio";
    if (type === "number") return "spinbutton";
    if (type === "range") return "slider";
    if (type === "search") return "searchbox";
    if (["", "text", "email", "tel", "url"].includes(type)) return el.hasAttribute("list") ? "combobox" : "textbox";
    return null;  // password, date, file, hidden: no role to find them by
  }

  function labelOf(el) {
    const labels = el.labels ? Array.from(el.labels).map((l) => norm(l.innerText)).filter(Boolean) : [];
    return labels.join(" ");
  }

  // The accessible name, as far as a recorder needs it: aria-labelledby, aria-label, the field's
  // label, a button's value, the text, the title. Unusual names just mean another selector is used.
  function nameOf(el) {
    const by = el.getAttribute("aria-labelledby");
    if (by) {
      const text = by.split(/\s+/).map((id) => document.getElementById(id)).filter(Boolean)
        .map((n) => norm(n.innerText || n.textContent)).join(" ");
      if (text) return text;
    }
    const aria = norm(el.getAttribute("aria-label"));
    if (aria) return aria;
    const tag = el.tagName.toLowerCase();
    const type = (el.getAttribute("type") || "").toLowerCase();
    if (tag === "input" && ["button", "submit", "reset"].includes(type)) {
      return norm(el.value) || (type === "submit" ? "Submit" : type === "reset" ? "Reset" : "");
    }
    if (tag === "input" && type === "image") return norm(el.getAttribute("alt"));
    if (["input", "select", "textarea"].includes(tag)) {
      return labelOf(el) || norm(el.getAttribute("title")) || norm(el.getAttribute("placeholder"));
    }
    return norm(el.innerText) || norm(el.getAttribute("title"));
  }

  function roleSelector(el) {
    const role = roleOf(el);
    const name = role && nameOf(el);
    if (!name || name.length > 80) return null;
    const same = Array.from(document.querySelectorAll(INTERACTIVE + ", h1, h2, h3, h4, h5, h6"))
      .filter((other) => visible(other) && roleOf(other) === role && nameOf(other).toLowerCase() === name.toLowerCase());
    return same.length === 1 ? `role=${role}[name=${quote(name)}]` : null;
  }

  function cssPath(el) {
    const parts = [];
    for (let node = el; node && node.nodeType === 1 && node !== document.documentElement; node = node.parentElement) {
      if (node.id && stableId(node.id) && count("#" + CSS.escape(node.id)) === 1) {
        parts.unshift("#" + CSS.escape(node.id));
        break;
      }
      const tag = node.tagName.toLowerCase();
      const siblings = node.parentElement ? Array.from(node.parentElement.children).filter((c) => c.tagName === node.tagName) : [];
      parts.unshift(siblings.length > 1 ? `${tag}:nth-of-type(${siblings.indexOf(node) + 1})` : tag);
      if (count(parts.join(" > ")) === 1) break;
    }
    return parts.join(" > ");
  }

  // Candidates, best first (as Playwright's generator: test id, role and name, then attributes, then a CSS path).
  function selectors(el) {
    const out = [];
    const tag = el.tagName.toLowerCase();
    for (const attr of TEST_IDS) {
      const value = el.getAttribute(attr);
      if (value && count(`[${attr}=${quote(value)}]`) === 1) out.push(`[${attr}=${quote(value)}]`);
    }
    const byRole = roleSelector(el);
    if (byRole) out.push(byRole);
    if (stableId(el.id) && count("#" + CSS.escape(el.id)) === 1) out.push("#" + CSS.escape(el.id));
    for (const attr of ["name", "placeholder", "aria-label", "alt", "title"]) {
      const value = el.getAttribute(attr);
      const css = `${tag}[${attr}=${quote(value)}]`;
      if (value && count(css) === 1) out.push(css);
    }
    const path = cssPath(el);
    if (path && count(path) === 1) out.push(path);
    return out;
  }

  function target(event) {
    const origin = event.composedPath ? event.composedPath()[0] : event.target;
    const el = origin && origin.nodeType === 1 ? origin : origin && origin.parentElement;
    return el ? (el.closest(INTERACTIVE) || el) : null;
  }

  const isField = (el) => el.tagName === "TEXTAREA" || el.isContentEditable ||
    (el.tagName === "INPUT" && TEXT_TYPES.includes((el.getAttribute("type") || "").toLowerCase()));
  const isSecret = (el) => el.tagName === "INPUT" && ((el.getAttribute("type") || "").toLowerCase() === "password" ||
    SECRET_AUTOCOMPLETE.test(el.getAttribute("autocomplete") || ""));
  const secretHint = (el) => el.getAttribute("name") || el.id || labelOf(el) || el.getAttribute("autocomplete") || "password";

  window.addEventListener("click", (event) => {
    const el = target(event);
    if (!el || !event.isTrusted) return;
    if (event.altKey) {  // Alt+click: a check of what the element shows, not a click
      event.preventDefault();
      event.stopImmediatePropagation();
      const text = norm(el.innerText || el.value).slice(0, 80);
      send({kind: text ? "expect_text" : "expect_visible", selectors: selectors(el), text});
      return;
    }
    if (el.tagName === "LABEL" && el.control) return;  // the click on its control follows
    if (isField(el) || el.tagName === "SELECT" || el.tagName === "OPTION") return;  // focusing: fill/select record it
    send({kind: "click", selectors: selectors(el)});
  }, true);

  window.addEventListener("input", (event) => {
    const el = target(event);
    if (!el || !isField(el) || el.isContentEditable) return;
    if (isSecret(el)) send({kind: "fill", selectors: selectors(el), secret: secretHint(el)});
    else send({kind: "fill", selectors: selectors(el), value: el.value});
  }, true);

  window.addEventListener("change", (event) => {
    const el = target(event);
    if (el && el.tagName === "SELECT") send({kind: "select", selectors: selectors(el), value: el.value});
    else if (el && el.tagName === "INPUT" && (el.getAttribute("type") || "").toLowerCase() === "file") {
      send({kind: "unsupported", what: "a file upload"});
    }
  }, true);

  window.addEventListener("keydown", (event) => {
    const el = target(event);
    if (!el || !event.isTrusted || event.key !== "Enter" || el.tagName === "TEXTAREA" || !isField(el)) return;
    send({kind: "press", selectors: selectors(el), key: "Enter"});
  }, true);
})();
