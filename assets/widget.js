/*
 * Spindle OPAC widget. Include it on an OPAC record page with one tag:
 *
 *   <script src="https://discs.example.edu/widget.js" async
 *           data-isbn-selector=".isbn"                 (where the ISBN is on the page)
 *           data-member="PKU" data-record="123456"     (or: this member's record id)
 *           data-target="#spindle"                     (where to show the links; default: after the tag)
 *           data-lang="zh-CN"></script>                (its language; default: the page's, else the browser's)
 *
 * It asks Spindle which discs belong to the book (by record id, else by the ISBN found on
 * the page, in either form) and shows Browse / Download / Launch links for each. It writes
 * text only (never HTML from the network) and does nothing when the book has no disc.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) return;
  // Spindle's address: where this script came from, less its own path (Spindle may be
  // mounted under a path of the library's site).
  var src = new URL(script.src, document.baseURI);
  var base = src.origin + src.pathname.replace(/\/widget\.js$/, "");
  var cfg = script.dataset;
  // Spindle's language catalogue (the widget_ messages), filled in when Spindle serves this.
  var WORDS = /*SPINDLE_WORDS*/null || {};
  var lang = cfg.lang || document.documentElement.lang || navigator.language || "en";
  var zh = /^zh/i.test(lang);
  var words = WORDS[zh ? "zh-CN" : "en"] || {};
  // Spindle's pages the widget leads to open in the OPAC's language (and keep it).
  function inLang(href) {
    return href + (href.indexOf("?") < 0 ? "?" : "&") + "lang=" + (zh ? "zh" : "en");
  }
  function t(key, values) {
    var text = words[key] || key;
    Object.keys(values || {}).forEach(function (name) {
      text = text.split("{" + name + "}").join(String(values[name]));
    });
    return text;
  }

  function isbnFromPage() {
    if (cfg.isbn) return cfg.isbn;
    var nodes = cfg.isbnSelector ? document.querySelectorAll(cfg.isbnSelector) : [document.body];
    for (var i = 0; i < nodes.length; i++) {
      var text = (nodes[i].textContent || "").replace(/[\uFF10-\uFF19]/g, function (c) {
        return String.fromCharCode(c.charCodeAt(0) - 0xFEE0);
      });
      var m = text.match(/97[89][\d\- ]{9,16}\d|\d[\d\- ]{8,11}[\dXx]/);
      if (m) return m[0].replace(/[^0-9Xx]/g, "");
    }
    return null;
  }

  function query() {
    if (cfg.member && cfg.record) {
      return "member=" + encodeURIComponent(cfg.member) + "&record=" + encodeURIComponent(cfg.record);
    }
    var isbn = isbnFromPage();
    return isbn ? "isbn=" + encodeURIComponent(isbn) : null;
  }

  function link(href, text) {
    var a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    a.className = "spindle-link";
    a.rel = "noopener";
    return a;
  }

  function render(data) {
    if (!data || !data.discs || data.discs.length === 0) return;
    var box = document.createElement("div");
    box.className = "spindle-discs";
    box.setAttribute("role", "region");
    box.setAttribute("aria-label", t("widget_region"));
    var title = document.createElement("strong");
    title.textContent = t(data.discs.length > 1 ? "widget_title_many" : "widget_title_one");
    box.appendChild(title);
    var list = document.createElement("ul");
    data.discs.forEach(function (d) {
      var item = document.createElement("li");
      item.className = "spindle-disc";
      item.appendChild(document.createTextNode((d.label || t("widget_disc", { n: d.disc_number })) + ": "));
      item.appendChild(link(inLang(d.browse), t("widget_browse")));
      item.appendChild(document.createTextNode(" · "));
      item.appendChild(link(d.download, t("widget_download")));
      item.appendChild(document.createTextNode(" · "));
      item.appendChild(link(d.launch, t("widget_launch")));
      list.appendChild(item);
    });
    box.appendChild(list);
    var target = cfg.target && document.querySelector(cfg.target);
    if (target) target.appendChild(box);
    else script.parentNode.insertBefore(box, script.nextSibling);
  }

  var q = query();
  if (!q) return;
  fetch(base + "/api/v1/lookup?" + q, { credentials: "omit" })
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(render)
    .catch(function () { /* the OPAC page stays as it was */ });
})();
