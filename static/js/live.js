// Says in words whether a run page is receiving updates; htmx and its ws extension do the rest.
(function () {
  function say(text) {
    var state = document.getElementById("live-state");
    if (state) state.textContent = text;
  }
  // A form sends its fields as strings; the socket takes only a number for last_seq (anything else closes with 4400).
  document.addEventListener("htmx:wsConfigSend", function (event) {
    var params = event.detail.parameters;
    if (params && /^\d+$/.test(params.last_seq)) params.last_seq = Number(params.last_seq);
  });
  document.addEventListener("htmx:wsOpen", function () { say("Connected: updates appear as the run records them."); });
  document.addEventListener("htmx:wsClose", function (event) {
    var code = event.detail.event.code;
    if (code === 1000) say("");
    else if (code >= 4400 && code < 4500) say("Live updates refused (" + code + "): reload the page, or log in again.");
    else say("Connection lost: reconnecting…");
  });
})();
