// What the transfer and withdraw screens share (screens/transfer.js, withdraw.js): the enterprise
// and class a URL names (`?e=e_…&class=N`), what the member holds of it and how much is free, and
// the screen that says, in one line, that the link names nothing (docs/wallet.md, "Own").
import * as api from "./api.js";
import { idFromText } from "./ids.js";
import { t } from "./strings.js";
import { alertLine, h, heading, navLink, show } from "./ui.js";
import { myHoldings } from "./shares.js";

const classPattern = /^(0|[1-9]\d{0,2})$/;

// {enterprise, shareClass, held: {units, locked, free}} for the URL's enterprise and class, or
// null after drawing one line that it names none (with `title` as the heading).
export async function namedClass(title) {
  const query = new URLSearchParams(location.search);
  const reference = query.get("e") ?? "";
  const index = query.get("class") ?? "";
  const nothing = () => {
    show(heading(title), alertLine(t("moves.unknown")), h("p", {}, navLink("/wallet/own", t("own.back"))));
    return null;
  };
  try {
    idFromText("e", reference);
  } catch {
    return nothing();
  }
  if (!classPattern.test(index)) return nothing();
  let enterprise;
  try {
    enterprise = await api.get(`/api/enterprises/${reference}?limit=20`);
  } catch (error) {
    if (!(error instanceof api.ApiError) || error.code !== "unknown_enterprise") throw error;
    return nothing();
  }
  const shareClass = enterprise.classes[Number(index)];
  if (!shareClass) return nothing();
  const mine = await myHoldings();
  const holding = mine.holdings.find((row) => row.enterprise === enterprise.id && row.class === shareClass.index);
  const units = BigInt(holding?.units ?? 0);
  const locked = BigInt(holding?.locked ?? 0);
  return { enterprise, shareClass, held: { units, locked, free: units - locked } };
}

export function backToEnterprise(enterprise) {
  return navLink(`/wallet/enterprise?e=${enterprise.id}`, t("moves.back", { enterprise: enterprise.name }));
}
