// Loaded by every page (deferred). Buttons that need a confirmation carry data-confirm
// instead of an inline handler: the Content-Security-Policy allows no inline script.
document.addEventListener('submit', e => {
  const msg = e.target.dataset && e.target.dataset.confirm;
  if (msg && !confirm(msg)) e.preventDefault();
});
