import { AppError } from "../../../lib/errors";

/** Address book rules: ISO 3166-1 alpha-2 countries, a bounded number of entries per user. */
export const MAX_ADDRESSES_PER_USER = 20;

export interface AddressFields {
  name: string;
  line1: string;
  line2: string | null;
  city: string;
  postalCode: string;
  country: string;
  phone: string | null;
  isDefault: boolean;
}

export interface AddressRecord extends AddressFields {
  id: string;
  userId: string;
  createdAt: Date;
  updatedAt: Date;
}

export interface AddressView extends AddressFields {
  id: string;
  createdAt: string;
  updatedAt: string;
}

// The 249 officially assigned ISO 3166-1 alpha-2 codes.
const ISO_3166_ALPHA2 = new Set(
  (
    "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ " +
    "BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM " +
    "DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS " +
    "GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN " +
    "KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ " +
    "MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM " +
    "PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV " +
    "SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI " +
    "VN VU WF WS YE YT ZA ZM ZW"
  ).split(" "),
);

/** The code in upper case, or a 400 naming `country` when it is not an assigned ISO code. */
export function normalizeCountry(country: string): string {
  const code = country.trim().toUpperCase();
  if (!ISO_3166_ALPHA2.has(code)) {
    const message = "country must be an ISO 3166-1 alpha-2 code, e.g. DE or US";
    throw AppError.validation(message, [{ field: "country", message }]);
  }
  return code;
}

/** Refuses a new address once the book is full (422: the request is fine, the state is not). */
export function assertRoomForAnotherAddress(currentCount: number): void {
  if (currentCount >= MAX_ADDRESSES_PER_USER)
    throw AppError.unprocessable(`An account can keep at most ${MAX_ADDRESSES_PER_USER} addresses`);
}

export function toAddressView(address: AddressRecord): AddressView {
  return {
    id: address.id,
    name: address.name,
    line1: address.line1,
    line2: address.line2,
    city: address.city,
    postalCode: address.postalCode,
    country: address.country,
    phone: address.phone,
    isDefault: address.isDefault,
    createdAt: address.createdAt.toISOString(),
    updatedAt: address.updatedAt.toISOString(),
  };
}
