// Typeset the math that pymdownx.arithmatex (generic mode) leaves between \( \) and \[ \], with the
// KaTeX bundled under docs/assets/katex: the site renders its equations without network access.
// document$ is Material's page-load observable (it also fires on instant navigation).
document$.subscribe(({ body }) => {
  renderMathInElement(body, {
    delimiters: [
      { left: "\\[", right: "\\]", display: true },
      { left: "\\(", right: "\\)", display: false },
    ],
    throwOnError: false,
  });
});
