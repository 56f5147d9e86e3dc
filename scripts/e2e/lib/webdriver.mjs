// A minimal W3C WebDriver client for the end-to-end suites (Node >= 20, no
// dependencies). tauri-driver sometimes drops a proxied request, so every
// request is retried a few times before it counts as a failure.

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class WebDriver {
  constructor(base) {
    this.base = base.replace(/\/$/, "");
    this.session = null;
  }

  async request(method, path, body) {
    let lastError;
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const res = await fetch(this.base + path, {
          method,
          headers: { "content-type": "application/json" },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        const json = await res.json();
        if (!res.ok) {
          const err = new Error(`${method} ${path}: ${json.value?.error}: ${json.value?.message}`);
          err.webdriver = json.value?.error;
          throw err;
        }
        return json.value;
      } catch (e) {
        if (e.webdriver) throw e;
        lastError = e;
        await sleep(200 * (attempt + 1));
      }
    }
    throw lastError;
  }

  async start(application) {
    const value = await this.request("POST", "/session", {
      capabilities: { alwaysMatch: { "tauri:options": { application } } },
    });
    this.session = value.sessionId;
    return this;
  }

  s(path) {
    if (!this.session) throw new Error("no WebDriver session");
    return `/session/${this.session}${path}`;
  }

  async find(css) {
    const v = await this.request("POST", this.s("/element"), { using: "css selector", value: css });
    return Object.values(v)[0];
  }

  // Runs fn(elementId) for the element `css` finds; the UI re-renders
  // lists on every update, so a stale reference is looked up again.
  async onElement(css, fn) {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn(await this.find(css));
      } catch (e) {
        if (e.webdriver !== "stale element reference" || attempt >= 4) throw e;
        await sleep(100);
      }
    }
  }

  async text(css) {
    return this.onElement(css, (el) => this.request("GET", this.s(`/element/${el}/text`)));
  }

  async property(css, name) {
    return this.onElement(css, (el) => this.request("GET", this.s(`/element/${el}/property/${name}`)));
  }

  async attribute(css, name) {
    return this.onElement(css, (el) => this.request("GET", this.s(`/element/${el}/attribute/${name}`)));
  }

  // True if at least one element matches (never throws for "no such element").
  async exists(css) {
    const v = await this.request("POST", this.s("/elements"), { using: "css selector", value: css });
    return Array.isArray(v) && v.length > 0;
  }

  async click(css) {
    await this.onElement(css, (el) => this.request("POST", this.s(`/element/${el}/click`), {}));
  }

  // Sends keystrokes to the element as they are (no clear first).
  async keys(css, text) {
    await this.onElement(css, (el) => this.request("POST", this.s(`/element/${el}/value`), { text }));
  }

  async type(css, value) {
    const el = await this.find(css);
    await this.request("POST", this.s(`/element/${el}/clear`), {});
    // WebKit's clear sometimes leaves a value behind in a field the page
    // re-renders: select all and delete it with keys as a fallback.
    const left = await this.request("GET", this.s(`/element/${el}/property/value`));
    if (typeof left === "string" && left.length > 0) {
      await this.request("POST", this.s(`/element/${el}/value`), { text: "\uE009a\uE000\uE003" });
    }
    await this.request("POST", this.s(`/element/${el}/value`), { text: value });
  }

  // Polls until fn() resolves to a truthy value or the timeout expires.
  async waitFor(what, fn, timeoutMs = 15000) {
    const end = Date.now() + timeoutMs;
    let last;
    while (Date.now() < end) {
      try {
        const v = await fn();
        if (v) return v;
      } catch (e) {
        last = e;
      }
      await sleep(100);
    }
    throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ""}`);
  }

  // Runs `script` in the page (WebDriver "execute sync") and returns its result.
  async execute(script, args = []) {
    return this.request("POST", this.s("/execute/sync"), { script, args });
  }

  async screenshot(file) {
    const { writeFile } = await import("node:fs/promises");
    // WebKit answers a screenshot request after its next paint. Without a
    // GPU the app turns accelerated compositing off (src-tauri/src/render.rs),
    // and then a page that has settled does not paint again, so the request
    // would wait forever. Keep one invisible pixel changing for a moment so
    // that a paint follows the request.
    await this.execute(`
      const dot = document.createElement("div");
      dot.style.cssText = "position:fixed;left:0;top:0;width:1px;height:1px;opacity:0.01;pointer-events:none";
      document.body.append(dot);
      let n = 0;
      const id = setInterval(() => {
        dot.style.opacity = n++ % 2 ? "0.01" : "0.02";
        if (n > 80) { clearInterval(id); dot.remove(); }
      }, 25);`);
    const b64 = await this.request("GET", this.s("/screenshot"));
    await writeFile(file, Buffer.from(b64, "base64"));
  }

  async quit() {
    if (this.session) {
      await this.request("DELETE", this.s("")).catch(() => {});
      this.session = null;
    }
  }
}
