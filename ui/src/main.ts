import { appInfo } from "./api/app";
import { renderError, renderStart } from "./view";

const root = document.getElementById("app");
if (root) {
  appInfo()
    .then((info) => renderStart(root, info))
    .catch((e: unknown) =>
      renderError(root, `Could not reach the app core: ${e instanceof Error ? e.message : String(e)}`),
    );
}
