import js from "@eslint/js";
import globals from "globals";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.browser } },
    rules: {
      // Money is BigInt: a stray parseFloat/Number on a price is a bug.
      "no-restricted-globals": ["error", { name: "parseFloat", message: "money is BigInt units (money.ts)" }],
      "eqeqeq": "error",
      "no-console": ["error", { allow: ["warn", "error"] }],
    },
  },
);
