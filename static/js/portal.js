// Progressive enhancement only: every page works without this file.
document.addEventListener("DOMContentLoaded", () => {
  // Move focus to the error summary so screen-reader and keyboard users hear it first.
  const summary = document.querySelector("[data-error-summary]");
  if (summary) {
    summary.focus();
  }
});

// PunchOut: a form marked data-autopost carries the cart back to the buyer's system by
// itself; its button stays for browsers without JavaScript.
document.addEventListener("DOMContentLoaded", () => {
  const cart = document.querySelector("form[data-autopost]");
  if (cart) {
    cart.submit();
  }
});
