/* linkback: the "who links here" block for static and cached pages.
 *
 *   <div data-linkbacks></div>
 *   <script src="/.linkback/linkbacks.js" async></script>
 *
 * Loads the block from the JSON API after the page has rendered, links the default
 * stylesheet, and reports document.referrer to the beacon so that visits count as they
 * would through the middleware. No dependencies; failures are silent.
 *
 * Attributes on the script tag: data-target (CSS selector of the containers, default
 * "[data-linkbacks]"), data-url (the page's URL; default: <link rel="canonical"> or the
 * address), data-beacon="off", data-stylesheet="off". A container's own data-url wins.
 * A "linkbacks:loaded" event bubbles from each container once filled.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !window.fetch || !window.JSON) {
    return;
  }
  var base = script.src.replace(/linkbacks\.js(?:[?#].*)?$/, "");

  function option(name) {
    return script.getAttribute("data-" + name);
  }

  function pageUrl() {
    var canonical = document.querySelector('link[rel="canonical"]');
    return (canonical && canonical.href) || location.href.split("#")[0];
  }

  function sendBeacon() {
    var referrer = document.referrer;
    if (option("beacon") === "off" || !referrer) {
      return;
    }
    try {
      if (new URL(referrer).host === location.host) {
        return; // navigation inside the site is never counted
      }
    } catch (e) {
      return;
    }
    var body = JSON.stringify({ url: location.href, referrer: referrer });
    var sent = false;
    if (navigator.sendBeacon) {
      try {
        // text/plain keeps the request "simple": no CORS preflight.
        sent = navigator.sendBeacon(base + "beacon", new Blob([body], { type: "text/plain" }));
      } catch (e) {
        sent = false;
      }
    }
    if (!sent) {
      fetch(base + "beacon", {
        method: "POST", body: body, keepalive: true, credentials: "omit",
        headers: { "Content-Type": "text/plain" }
      }).catch(function () {});
    }
  }

  function linkStylesheet() {
    if (option("stylesheet") === "off") {
      return;
    }
    var href = base + "linkbacks.css";
    var links = document.getElementsByTagName("link");
    for (var i = 0; i < links.length; i++) {
      if (links[i].href === href) {
        return;
      }
    }
    var link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = href;
    document.head.appendChild(link);
  }

  function fill(node) {
    var url = node.getAttribute("data-url") || option("url") || pageUrl();
    fetch(base + "api/linkbacks?url=" + encodeURIComponent(url), { credentials: "omit" })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (data) {
        if (!data || typeof data.html !== "string") {
          return;
        }
        // The server escaped every field; the HTML holds no script.
        node.innerHTML = data.html;
        var event;
        try {
          event = new CustomEvent("linkbacks:loaded", { bubbles: true, detail: data });
        } catch (e) {
          return;
        }
        node.dispatchEvent(event);
      })
      .catch(function () {});
  }

  function load() {
    var nodes = document.querySelectorAll(option("target") || "[data-linkbacks]");
    if (!nodes.length) {
      return;
    }
    linkStylesheet();
    for (var i = 0; i < nodes.length; i++) {
      fill(nodes[i]);
    }
  }

  sendBeacon();
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", load);
  } else {
    load();
  }
})();
