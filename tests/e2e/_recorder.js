// Installed in the page before a run: watches the live views and the cell prompts.
// Every distinct text of each `.streaming-lab-live-text` element is kept with its arrival
// time, because the test must prove the text changed in steps, not only how it ended.
() => {
  if (window.__e2e) {
    return;
  }
  const views = [];
  // Views born before the last mark() belong to outputs the next run replaces.
  let generation = 0;
  // A live view re-renders its inner HTML on every refresh, so its text element is replaced
  // each time: a view is known by its outer widget and the choice its text belongs to.
  const viewsOf = new WeakMap();
  let ranCells = new WeakSet();

  const viewFor = el => {
    const owner = el.closest('.streaming-lab-live');
    let byChoice = viewsOf.get(owner);
    if (!byChoice) {
      byChoice = new Map();
      viewsOf.set(owner, byChoice);
    }
    const choice = el.dataset.choice || '0';
    let view = byChoice.get(choice);
    if (!view) {
      view = { texts: [], times: [], generation, owner };
      byChoice.set(choice, view);
      views.push(view);
    }
    return view;
  };

  const scan = () => {
    const now = performance.now();
    // A text not (yet) inside its view's outer widget is skipped: the widget gets its
    // classes just after its first render, and that change triggers another scan.
    for (const el of document.querySelectorAll('.streaming-lab-live .streaming-lab-live-text')) {
      const view = viewFor(el);
      const text = el.textContent;
      if (view.texts.length === 0 || view.texts[view.texts.length - 1] !== text) {
        view.texts.push(text);
        view.times.push(now);
      }
      // Kept from the last time the view was on the page: a finished view may be removed.
      const cell = el.closest('.jp-Cell');
      const status = view.owner.querySelector('.streaming-lab-live-status');
      const message = view.owner.querySelector('.streaming-lab-live-message');
      view.cell = cell ? [...cell.parentElement.children].filter(c => c.classList.contains('jp-Cell')).indexOf(cell) : -1;
      view.inPlayground = el.closest('.streaming-lab-playground') !== null;
      view.status = status ? status.textContent : null;
      view.message = message ? message.textContent : '';
    }
    for (const prompt of document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')) {
      if (prompt.textContent.trim() === '[*]:') {
        ranCells.add(prompt.closest('.jp-CodeCell'));
      }
    }
  };

  new MutationObserver(scan).observe(document.body, {
    subtree: true,
    childList: true,
    characterData: true,
    attributeFilter: ['class'],
  });
  scan();

  window.__e2e = {
    mark: () => {
      generation += 1;
      ranCells = new WeakSet();
    },
    // Views that appeared since the last mark(), on the page or not.
    views: () =>
      views
        .filter(v => v.generation === generation)
        .map(({ texts, times, cell, inPlayground, status, message }) => ({
          texts,
          times,
          cell,
          inPlayground,
          status,
          message,
        })),
    cells: () =>
      [...document.querySelectorAll('.jp-Notebook .jp-Cell')].map(cell => {
        const prompt = cell.querySelector('.jp-InputPrompt');
        return {
          code: cell.classList.contains('jp-CodeCell'),
          ran: ranCells.has(cell),
          prompt: prompt ? prompt.textContent.trim() : '',
        };
      }),
    now: () => performance.now(),
  };
}
