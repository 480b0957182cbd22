/* The server list: every status badge follows its server live. */
"use strict";

(function (Hearth) {
  var data = Hearth.pageData();

  function badgeFor(serverId) {
    var row = document.querySelector('tr[data-server-id="' + CSS.escape(String(serverId)) + '"]');
    return row && row.querySelector("[data-status-badge]");
  }

  /* After a reconnect, ask for the current states: changes made while the socket was down were missed. */
  function refreshAll(page) {
    Hearth.api("GET", "/api/servers?limit=100&page=" + page).then(function (res) {
      if (!res.ok || !Array.isArray(res.body.data)) return;
      res.body.data.forEach(function (server) { Hearth.setBadge(badgeFor(server.id), server.status); });
      var pages = (res.body.pagination && res.body.pagination.pages) || 1;
      if (page < pages && page < 10) refreshAll(page + 1);
    });
  }

  var live = new Hearth.Live(function (message) {
    if (message.type === "server_state_update") Hearth.setBadge(badgeFor(message.serverId), message.state);
  });
  live.onOpen = function (reconnected) {
    if (reconnected) refreshAll(1);
  };
  data.live.forEach(function (serverId) { live.subscribe(serverId, ["server_state_update"]); });
  if (data.live.length) live.connect();
})(window.Hearth);
