// Typesets the math that pymdownx.arithmatex marks (\( \) inline, \[ \] display) with the bundled KaTeX,
// so the pages need no network. document$ is Material's page-load stream (also after instant navigation).
document$.subscribe(({ body }) => {
  renderMathInElement(body, {
    delimiters: [
      { left: "\\(", right: "\\)", display: false },
      { left: "\\[", right: "\\]", display: true },
    ],
    throwOnError: false,
  });
});
