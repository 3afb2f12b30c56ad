// Types shared by several schemas; schema.ts imports them with a relative import.

/** A postal address. */
export interface Address {
  street: string;
  city: string;
  /** ISO 3166-1 alpha-2, e.g. "FR". */
  country: string;
  /** Latitude and longitude, when geocoded. */
  location?: [lat: number, lng: number];
}
