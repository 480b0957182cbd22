/* The new-server page: the plans offered for the chosen game (GET /api/plans?templateId=) as cards, the
   locations the chosen plan allows, then POST /api/servers with install, and on to the server's page.
   Where the panel offers no plan, the customer sizes the server within the maximums the page shows.
   Every value from the API is put in the page with textContent. */
"use strict";

(function (Hearth) {
  var form = document.getElementById("server-new");
  if (!form) return;
  var data = Hearth.pageData();
  var template = document.getElementById("new-template");
  var locationSelect = document.getElementById("new-location");
  var cards = document.getElementById("plan-cards");
  var notice = document.getElementById("new-notice");
  var locations = [];
  var plans = [];

  var el = Hearth.el;

  function notify(text) {
    notice.textContent = text;
    notice.hidden = false;
  }

  function chosenPlan() {
    var input = form.querySelector('input[name="planId"]:checked');
    return input ? plans.filter(function (p) { return p.id === input.value; })[0] : null;
  }

  function size(mb) {
    return mb >= 1024 ? (mb / 1024).toFixed(mb % 1024 ? 1 : 0) + " GB" : mb + " MB";
  }

  function card(plan, index) {
    var label = el("label", "plan-card");
    var input = label.appendChild(el("input"));
    input.type = "radio";
    input.name = "planId";
    input.value = plan.id;
    input.checked = index === 0;
    input.addEventListener("change", renderLocations);
    label.appendChild(el("strong", "plan-name", plan.name));
    if (plan.priceLabel) label.appendChild(el("span", "plan-price", plan.priceLabel));
    var facts = label.appendChild(el("ul", "plan-facts"));
    [
      size(plan.memoryMb) + " memory",
      plan.cpuCores + " CPU core" + (Number(plan.cpuCores) === 1 ? "" : "s"),
      size(plan.diskMb) + " disk",
      plan.backupLimit + " backup" + (plan.backupLimit === 1 ? "" : "s") + ", " +
        plan.databaseLimit + " database" + (plan.databaseLimit === 1 ? "" : "s"),
      plan.defaultExpireDays ? "runs " + plan.defaultExpireDays + " days" : "no expiry",
    ].forEach(function (fact) { facts.appendChild(el("li", "", fact)); });
    if (plan.description) label.appendChild(el("p", "muted small", plan.description));
    return label;
  }

  function loadPlans() {
    if (!cards) return Promise.resolve();
    return Hearth.api("GET", "/api/plans?templateId=" + encodeURIComponent(template.value)).then(function (res) {
      if (!res.ok) return notify((res.body && res.body.message) || "The plans could not be listed.");
      plans = res.body.data || [];
      cards.replaceChildren();
      plans.forEach(function (plan, index) { cards.appendChild(card(plan, index)); });
      document.getElementById("plans-empty").hidden = plans.length > 0;
      renderLocations();
    });
  }

  function renderLocations() {
    var plan = chosenPlan();
    var allowed = plan && plan.locationIds.length ? plan.locationIds : null;
    var keep = locationSelect.value;
    locationSelect.replaceChildren();
    var any = el("option", "", "Any");
    any.value = "";
    locationSelect.appendChild(any);
    locations
      .filter(function (l) { return !allowed || allowed.indexOf(l.id) !== -1; })
      .forEach(function (l) {
        var option = el("option", "", l.name);
        option.value = l.id;
        option.selected = l.id === keep;
        locationSelect.appendChild(option);
      });
  }

  template.addEventListener("change", loadPlans);
  Hearth.api("GET", "/api/locations").then(function (res) {
    locations = (res.ok && res.body.data) || [];
    return loadPlans().then(renderLocations);
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    notice.hidden = true;
    var body = {
      name: document.getElementById("new-name").value.trim(),
      templateId: template.value,
      install: true,
    };
    if (locationSelect.value) body.locationId = locationSelect.value;
    if (data.plansOffered) {
      var plan = chosenPlan();
      if (plan) body.planId = plan.id;
    } else {
      body.allocatedMemoryMb = Number(document.getElementById("new-memory").value);
      body.allocatedCpuCores = document.getElementById("new-cpu").value;
      body.allocatedDiskMb = Number(document.getElementById("new-disk").value);
    }
    var submit = document.getElementById("new-create");
    submit.disabled = true;
    Hearth.api("POST", "/api/servers", body).then(function (res) {
      submit.disabled = false;
      if (!res.ok) return notify((res.body && res.body.message) || "The server could not be created.");
      window.location.assign("/servers/" + res.body.data.id);
    });
  });
})(window.Hearth);
