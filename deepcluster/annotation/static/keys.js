// Keyboard shortcuts of the annotate page (the help box, "?", lists them). Letters act only when no text
// field has the focus; Escape always clears the selection and leaves the field.
"use strict";

App.keys = {
  step(delta, unnamedOnly) {
    const list = visibleClusters();
    if (!list.length) return;
    let i = list.findIndex((c) => c.id === App.current);
    for (let n = 0; n < list.length; n++) {
      i = (i + delta + list.length) % list.length;
      if (!unnamedOnly || !list[i].name) break;
    }
    setView("cluster");
    show(list[i].id);
  },
  overview() {
    setView(App.view === "overview" ? "cluster" : "overview");
    $("main").scrollTop = 0;
    if (App.view === "overview") renderOverview(); else renderCluster();
  },
  focus(id) {
    if (App.view !== "cluster") { setView("cluster"); renderCluster(); }
    $(id).focus();
  },
};

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement.tagName);
  if (event.key === "Escape") {
    if (!$("help").hidden) $("help").hidden = true;
    else if (typing) document.activeElement.blur();
    else clearSelection();
    return;
  }
  if (typing) return;
  const run = {
    j: () => App.keys.step(1), ArrowDown: () => App.keys.step(1),
    k: () => App.keys.step(-1), ArrowUp: () => App.keys.step(-1),
    ".": () => App.keys.step(1, true),
    n: () => App.keys.focus("name-input"),
    m: () => App.keys.focus("move-input"),
    l: () => App.keys.focus("label-input"),
    g: () => App.keys.focus("merge-input"),
    u: () => actions.unsure(),
    a: () => selectAll(),
    "/": () => $("search").focus(),
    o: () => App.keys.overview(),
    "?": () => { $("help").hidden = !$("help").hidden; },
  }[event.key];
  if (run) {
    event.preventDefault();
    run();
  }
});
