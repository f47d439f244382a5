// Upload with progress: the zipped dataset goes up through XMLHttpRequest (fetch cannot
// report upload progress), then the browser follows the server's answer: the new-run form
// with the dataset selected, or the error page. Without JavaScript the form posts as usual.
(function () {
  const form = document.getElementById('upload-form');
  if (!form) return;
  const bar = document.getElementById('upload-progress');
  const status = document.getElementById('upload-status');
  const mib = n => (n / 1048576).toFixed(1) + ' MiB';
  form.addEventListener('submit', ev => {
    ev.preventDefault();
    const file = form.querySelector('input[type=file]').files[0];
    const max = +form.dataset.maxBytes;
    if (file && max && file.size > max) {
      status.textContent = `${file.name} is ${mib(file.size)}: uploads may be at most ${mib(max)}`;
      return;
    }
    const xhr = new XMLHttpRequest();
    xhr.open('POST', form.action);
    bar.hidden = false;
    xhr.upload.addEventListener('progress', e => {
      if (!e.lengthComputable) return;
      bar.value = e.loaded / e.total;
      status.textContent = `${mib(e.loaded)} of ${mib(e.total)}`;
    });
    xhr.upload.addEventListener('load', () => { status.textContent = 'unpacking…'; });
    xhr.addEventListener('load', () => {
      if (xhr.status < 400) { location.href = xhr.responseURL; return; }
      document.open(); document.write(xhr.responseText); document.close();
    });
    xhr.addEventListener('error', () => { status.textContent = 'upload failed: the connection broke'; bar.hidden = true; });
    form.querySelector('button').disabled = true;
    xhr.send(new FormData(form));
  });
})();
