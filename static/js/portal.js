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

// Contact form: the sub-application list follows the chosen application, and the
// guidance follows the chosen type. Without script, a button reloads the list.
document.addEventListener("DOMContentLoaded", () => {
  const application = document.querySelector("select[data-sub-applications]");
  if (application) {
    const options = JSON.parse(application.dataset.subApplications);
    const target = document.getElementById(application.dataset.subTarget);
    const none = target.options[0].cloneNode(true);
    application.addEventListener("change", () => {
      target.replaceChildren(none.cloneNode(true));
      for (const [value, label] of options[application.value] || []) {
        target.add(new Option(label, value));
      }
    });
    const refresh = document.querySelector("[data-refresh]");
    if (refresh) {
      refresh.hidden = true;
    }
  }
  const guidance = document.querySelector("[data-type-guidance]");
  const type = document.querySelector("select#type");
  if (guidance && type) {
    type.addEventListener("change", () => {
      const chosen = type.options[type.selectedIndex];
      guidance.textContent = chosen ? chosen.dataset.guidance || "" : "";
    });
  }
});

// Screenshots: a file over the size limit is taken off the field at once, with the
// reason, so that sending cannot end in "too large" and lose what was typed.
document.addEventListener("DOMContentLoaded", () => {
  for (const input of document.querySelectorAll("input[type=file][data-max-bytes]")) {
    const errors = input.parentElement.parentElement.querySelector("[data-file-errors]")
      || input.parentElement.querySelector("[data-file-errors]");
    input.addEventListener("change", () => {
      const limit = Number(input.dataset.maxBytes);
      const tooLarge = [...input.files].filter((file) => file.size > limit);
      if (!errors) {
        return;
      }
      if (tooLarge.length) {
        errors.textContent = tooLarge
          .map((file) => input.dataset.tooLarge.replace("{file}", file.name))
          .join(" ");
        errors.hidden = false;
        input.value = "";
      } else {
        errors.textContent = "";
        errors.hidden = true;
      }
    });
  }
});

// A long company/department list can be filtered by typing (the list works without too).
document.addEventListener("DOMContentLoaded", () => {
  for (const box of document.querySelectorAll("[data-filter-for]")) {
    const select = document.getElementById(box.dataset.filterFor);
    const input = box.querySelector("input");
    if (!select || !input) {
      continue;
    }
    const options = [...select.options];
    box.hidden = false;
    input.addEventListener("input", () => {
      const text = input.value.trim().toLowerCase();
      for (const option of options) {
        option.hidden = text !== "" && !option.text.toLowerCase().includes(text);
      }
      const first = options.find((option) => !option.hidden);
      if (first && select.selectedOptions[0] && select.selectedOptions[0].hidden) {
        select.value = first.value;
      }
    });
  }
});

// Menus (details[data-menu]) come open, so that they work without this file; on a
// narrow screen they close, to keep the header short, and on a wide one they stay open
// (their toggle is hidden there). The width is portal.css's breakpoint, 48em.
document.addEventListener("DOMContentLoaded", () => {
  const menus = document.querySelectorAll("details[data-menu]");
  const wide = window.matchMedia("(min-width: 48em)");
  const fit = () => {
    for (const menu of menus) {
      menu.open = wide.matches;
    }
  };
  fit();
  wide.addEventListener("change", fit);
});

// Background tasks: while a task shown on the page is queued or running, fetch the page
// again every few seconds and put the task's new state in its place (its region is
// polite-live, so a screen reader hears the change). Without script, the reload link
// in the region does the same.
document.addEventListener("DOMContentLoaded", () => {
  const watched = () => [...document.querySelectorAll("[data-task-refresh='on']")];
  if (!watched().length) {
    return;
  }
  const poll = async () => {
    try {
      const answer = await fetch(window.location.href, { credentials: "same-origin" });
      if (!answer.ok) {
        return;
      }
      const fresh = new DOMParser().parseFromString(await answer.text(), "text/html");
      for (const region of watched()) {
        const next = fresh.getElementById(region.id);
        if (!next) {
          // The page shows the task no more (it is done): the page as it is now.
          window.location.reload();
          return;
        }
        if (next.innerHTML !== region.innerHTML) {
          region.innerHTML = next.innerHTML;
          region.className = next.className;
          region.dataset.taskRefresh = next.dataset.taskRefresh;
        }
      }
    } catch (error) {
      // A network hiccup: the next round tries again.
    }
    if (watched().length) {
      window.setTimeout(poll, 2000);
    }
  };
  window.setTimeout(poll, 2000);
});
