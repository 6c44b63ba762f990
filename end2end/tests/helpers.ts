import { expect, request, Page, APIRequestContext, Browser, BrowserContext } from "@playwright/test";

export const DEMO_PASSWORD = "demo12345";

/** A visit time the order forms take (from today to a year ahead), `days` from now at
 * `time` Moscow time, as a datetime-local input spells it: `2026-12-05T11:00`. */
export function visitIn(days: number, time = "10:00"): string {
  const moscow = new Date(Date.now() + 3 * 3600_000 + days * 86_400_000);
  return `${moscow.toISOString().slice(0, 10)}T${time}`;
}

/** Opens a page and waits until the browser app has hydrated it. */
export async function open(page: Page, path: string) {
  await page.goto(path);
  await hydrated(page);
}

export async function hydrated(page: Page) {
  await page.locator("body[data-hydrated]").waitFor({ state: "attached" });
}

/** Signs a demo staff member in through the real form. */
export async function signInStaff(page: Page, email: string, password = DEMO_PASSWORD) {
  await open(page, "/staff/login");
  await page.getByLabel("E-mail").fill(email);
  await page.getByLabel("Пароль").fill(password);
  await page.getByRole("button", { name: "Войти" }).click();
  if (password === DEMO_PASSWORD) {
    await expect(page).not.toHaveURL(/\/staff\/login/);
  }
}

/** The newest one-time code sent to a phone, read from the demo page /dev/sms. */
export async function latestCode(request: APIRequestContext, phone: string): Promise<string> {
  const html = await (await request.get("/dev/sms")).text();
  const rows = html.split("<tr>").filter((r) => r.includes(`>${phone}<`));
  expect(rows.length, `an SMS to ${phone}`).toBeGreaterThan(0);
  const code = rows[0].match(/Код для входа: (\d{6})/);
  expect(code).not.toBeNull();
  return code![1];
}

/** Signs a demo resident in with a code from /dev/sms. */
export async function signInResident(page: Page, phone: string) {
  await open(page, "/login");
  await page.getByLabel("Номер телефона").fill(phone);
  await page.getByRole("button", { name: "Получить код" }).click();
  await expect(page.getByText("Код отправлен на")).toBeVisible();
  // /dev/sms answers this machine only, not a request relayed with X-Forwarded-For (as
  // the resident's context sends): it is read from a context of its own.
  const local = await request.newContext({ baseURL: new URL(page.url()).origin });
  const code = await latestCode(local, phone);
  await local.dispose();
  await page.getByLabel("Код из СМС").fill(code);
  await page.getByRole("button", { name: "Войти" }).click();
  await expect(page).not.toHaveURL(/\/login/);
}

/** Collects what shows the browser app broke: uncaught errors and panics (Rust panics reach
 * the console through console_error_panic_hook). Assert the list stays empty. */
export function watchForCrashes(page: Page): string[] {
  const crashes: string[] = [];
  page.on("pageerror", (e) => crashes.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && /panicked|unreachable|RuntimeError|already been disposed|already borrowed/.test(m.text())) {
      crashes.push(`console: ${m.text()}`);
    }
  });
  return crashes;
}

/** A resident signed in on a phone, in a browser context of their own, coming from an
 * address of its own (as `X-Forwarded-For` from the proxy; the e2e server trusts it), so
 * that the whole suite's sign-ins are not one address's code requests. */
export async function residentPage(browser: Browser, phone: string): Promise<{ ctx: BrowserContext; page: Page }> {
  const ctx = await browser.newContext({
    viewport: { width: 390, height: 844 },
    isMobile: true,
    hasTouch: true,
    locale: "ru-RU",
    extraHTTPHeaders: { "X-Forwarded-For": `10.0.0.${Number(phone.slice(-2))}` },
  });
  const page = await ctx.newPage();
  await signInResident(page, phone);
  return { ctx, page };
}

/** The resident orders three intercom keys (prepaid, 1 200,00 ₽) and pays by card, with
 * the receipt sent to `email`; returns the request number. */
export async function paidKeys(page: Page, email: string): Promise<string> {
  await open(page, "/?q=домофон");
  await page.getByRole("link", { name: /Изготовление ключа от домофона/ }).click();
  await hydrated(page);
  await page.locator('[data-field="count"] input').fill("3");
  await page.getByRole("button", { name: "Отправить заявку" }).click();
  await expect(page).toHaveURL(/\/requests\/\d+\/pay\/\d+$/);
  const number = page.url().match(/\/requests\/(\d+)\/pay/)![1];
  await hydrated(page);
  await page.getByLabel("E-mail для чека").fill(email);
  await page.getByRole("button", { name: "Перейти к оплате" }).click();
  await page.getByLabel("Номер карты").fill("4242424242424242");
  await page.getByLabel("Срок (ММ/ГГ)").fill("12/30");
  await page.getByLabel("CVC").fill("123");
  await page.getByRole("button", { name: /^Оплатить/ }).click();
  await expect(page.getByTestId("payment-result")).toContainText("Оплата прошла", { timeout: 20_000 });
  return number;
}
