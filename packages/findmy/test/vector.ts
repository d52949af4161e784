/**
 * A fixed test vector, computed once with an independent implementation (Python, pyca/cryptography,
 * following shared/findmy.md) and pasted here: the tests compare against these literals and never
 * recompute them with the code under test.
 */
export const VECTOR = {
  privateKey: 'uk7qZ+yuA9ykWiHtOThMw7PajxwfLfB0AY/yNg==',
  ephemeralPrivateKey: 'fJPeYc/EZ0JIa+wLXNnPkliSbx20SDDPG4ks+A==',
  advertisementKey: 'yPpS289UetrsfkvnBIW1zljc9/+QiE2r6iqfyw==',
  hashedAdvKey: 'srnFLXJ6TafKWjHPfK+dLJSZ/2AH1F1dwnlfoI7yv+A=',
  payload88:
    'Lf71cAIEznKJ9QKy0GYjS0VLdmZS27F3eXUyJViqTusje0Wjm/nZuS2rbwGc9eVMf2invVRcGa3fkFp5KTjyBa7QkpDm5CkdkIdKTUhi8kDwmkCLd6WpiA==',
  payload89:
    'Lf71cAACBM5yifUCstBmI0tFS3ZmUtuxd3l1MiVYqk7rI3tFo5v52bktq28BnPXlTH9op71UXBmt35BaeSk48gWu0JKQ5uQpHZCHSk1IYvJA8JpAi3elqYg=',
  /** What both payloads decrypt to. */
  expected: {
    timestamp: '2025-06-15T12:34:56.000Z',
    confidence: 2,
    latitude: 38.7223456,
    longitude: -9.139321,
    horizontalAccuracy: 37,
    status: 101, // battery medium (01), reported (bit 5), counter 5
    batteryLevel: 'medium',
  },
  /** A 26-byte scalar (two leading zero bytes dropped) and the same key in OpenHaystack's 85-byte form. */
  shortKey: '+bAHi131ltLqGQEMABu9AJ5lHeLFfo+341U=',
  shortKeyHashedAdvKey: 'T6z3OsUCLUcL7KVC5eAJUx07hPU6TxZvBmdCqX5keSk=',
  openHaystack85:
    'BHHKfLHRNw4Fl1biyx40LzimuGqpsV4xUSXpD8Hx3I4M9aERrkJOnjweWn5N/fwnvx72xOaC2K8AAAD5sAeLXfWW0uoZAQwAG70AnmUd4sV+j7fjVQ==',
} as const
