// Injected by the browser tests before any page script (an init script, so the
// app itself keeps no inline script): every Content-Security-Policy violation
// becomes a console error, which fails the test.
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(
    `CSP violation: ${event.violatedDirective} blocked ${event.blockedURI || "inline code"} ` +
      `in ${event.sourceFile || event.documentURI}:${event.lineNumber}`,
  );
});
