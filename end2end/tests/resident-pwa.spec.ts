import { test, expect } from "@playwright/test";
import { open, signInResident } from "./helpers";

test("the resident app is installable: manifest, icons and a service worker that registers", async ({ page }) => {
  await signInResident(page, "+79000000002");
  await open(page, "/");
  const href = await page.locator('link[rel="manifest"]').getAttribute("href");
  expect(href).toBe("/manifest.webmanifest");
  const manifest = await (await page.request.get(href!)).json();
  expect(manifest.lang).toBe("ru");
  expect(manifest.display).toBe("standalone");
  expect(manifest.start_url).toBe("/");
  for (const icon of manifest.icons.filter((i: { type: string }) => i.type === "image/png")) {
    const res = await page.request.get(icon.src);
    expect(res.ok()).toBeTruthy();
    const bytes = await res.body();
    expect(bytes.subarray(1, 4).toString()).toBe("PNG");
  }
  const scope = await page.evaluate(async () => {
    const reg = await navigator.serviceWorker.register("/sw.js");
    await navigator.serviceWorker.ready;
    return reg.scope;
  });
  expect(scope).toBe(new URL("/", page.url()).toString());
});
