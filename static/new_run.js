// The new-run form shows only the fields that apply: task-specific ones (noise for
// denoising, darkening for low-light, classes for segmentation) and the pairs' folders
// follow the task and dataset selects. Hidden fields still post their values, which the
// server ignores where they do not apply. Without JavaScript every field shows.
(function () {
  const form = document.getElementById('run-form');
  if (!form) return;
  const task = form.querySelector('[name="task"]');
  const source = form.querySelector('[name="data.source.kind"]');
  const update = () => {
    form.querySelectorAll('[data-task]').forEach(el => { el.hidden = el.dataset.task !== task.value; });
    form.querySelectorAll('[data-source]').forEach(el => { el.hidden = el.dataset.source !== source.value; });
  };
  // Settings that differ by task (the lr of SGD vs Adam, lambda_fc, lambda_dc) follow the
  // task unless the user has changed them.
  let previous = task.value;
  task.addEventListener('change', () => {
    form.querySelectorAll('[data-by-task]').forEach(input => {
      const values = JSON.parse(input.dataset.byTask);
      if (input.value === values[previous]) input.value = values[task.value];
    });
    previous = task.value;
    update();
  });
  source.addEventListener('change', update);
  update();
})();
