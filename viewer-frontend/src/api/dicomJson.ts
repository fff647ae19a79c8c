// Reading the DICOM JSON model (PS3.18 F.2): attributes keyed by 8-hex tag, each { vr, Value | BulkDataURI }.

export interface DicomAttribute {
  vr: string;
  Value?: unknown[];
  BulkDataURI?: string;
  InlineBinary?: string;
}
export type DicomJson = Record<string, DicomAttribute>;

/** Tags by keyword for the attributes the app reads; keywords keep the code readable. */
export const TAGS = {
  SpecificCharacterSet: '00080005',
  ImageType: '00080008',
  SOPClassUID: '00080016',
  SOPInstanceUID: '00080018',
  StudyDate: '00080020',
  SeriesDate: '00080021',
  StudyTime: '00080030',
  AccessionNumber: '00080050',
  Modality: '00080060',
  ModalitiesInStudy: '00080061',
  Manufacturer: '00080070',
  InstitutionName: '00080080',
  ReferringPhysicianName: '00080090',
  StudyDescription: '00081030',
  SeriesDescription: '0008103E',
  PatientName: '00100010',
  PatientID: '00100020',
  PatientBirthDate: '00100030',
  PatientSex: '00100040',
  PatientAge: '00101010',
  SliceThickness: '00180050',
  StudyInstanceUID: '0020000D',
  SeriesInstanceUID: '0020000E',
  StudyID: '00200010',
  SeriesNumber: '00200011',
  InstanceNumber: '00200013',
  ImagePositionPatient: '00200032',
  ImageOrientationPatient: '00200037',
  FrameOfReferenceUID: '00200052',
  SliceLocation: '00201041',
  NumberOfStudyRelatedSeries: '00201206',
  NumberOfStudyRelatedInstances: '00201208',
  NumberOfSeriesRelatedInstances: '00201209',
  SamplesPerPixel: '00280002',
  PhotometricInterpretation: '00280004',
  NumberOfFrames: '00280008',
  Rows: '00280010',
  Columns: '00280011',
  PixelSpacing: '00280030',
  BitsAllocated: '00280100',
  WindowCenter: '00281050',
  WindowWidth: '00281051',
  RescaleIntercept: '00281052',
  RescaleSlope: '00281053',
  LUTLabel: '00283003',
  CodeValue: '00080100',
  CodingSchemeDesignator: '00080102',
  CodeMeaning: '00080104',
  ReferencedSOPInstanceUID: '00081155',
  ReferencedFrameNumber: '00081160',
  ReferencedSOPSequence: '00081199',
  ContentDate: '00080023',
  ContentTime: '00080033',
  ValueType: '0040A040',
  ConceptNameCodeSequence: '0040A043',
  ConceptCodeSequence: '0040A168',
  UID: '0040A124',
  TextValue: '0040A160',
  MeasuredValueSequence: '0040A300',
  NumericValue: '0040A30A',
  ContentSequence: '0040A730',
  GraphicData: '00700022',
  GraphicType: '00700023',
  MeasurementUnitsCodeSequence: '004008EA',
  RealWorldValueMappingSequence: '00409096',
  EncapsulatedDocument: '00420011',
  MIMETypeOfEncapsulatedDocument: '00420012',
  SharedFunctionalGroupsSequence: '52009229',
  ContentLabel: '00700080',
  PixelData: '7FE00010',
} as const;
export type Keyword = keyof typeof TAGS;

function first(ds: DicomJson | undefined, keyword: Keyword): unknown {
  return ds?.[TAGS[keyword]]?.Value?.[0];
}

/** A person name's alphabetic group (or ideographic when only that exists), carets shown as spaces. */
export function personName(value: unknown): string {
  if (value == null) return '';
  if (typeof value === 'string') return value.replace(/\^+/g, ' ').trim();
  const pn = value as { Alphabetic?: string; Ideographic?: string; Phonetic?: string };
  const parts = [pn.Alphabetic, pn.Ideographic].filter((p): p is string => !!p);
  return parts.map((p) => p.replace(/\^+/g, ' ').trim()).join(' / ');
}

export function str(ds: DicomJson | undefined, keyword: Keyword): string {
  const attr = ds?.[TAGS[keyword]];
  if (!attr?.Value?.length) return '';
  if (attr.vr === 'PN') return personName(attr.Value[0]);
  return attr.Value.map((v) => (v == null ? '' : String(v))).join('\\');
}

export function num(ds: DicomJson | undefined, keyword: Keyword): number | undefined {
  const v = first(ds, keyword);
  if (v == null || v === '') return undefined;
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isFinite(n) ? n : undefined;
}

export function nums(ds: DicomJson | undefined, keyword: Keyword): number[] {
  const values = ds?.[TAGS[keyword]]?.Value ?? [];
  return values.map((v) => Number(v)).filter((n) => Number.isFinite(n));
}

/** The items of a sequence attribute (SQ), as nested datasets. */
export function items(ds: DicomJson | undefined, keyword: Keyword): DicomJson[] {
  const attr = ds?.[TAGS[keyword]];
  return attr?.vr === 'SQ' ? ((attr.Value ?? []) as DicomJson[]) : [];
}

/** The values of a multi-valued string attribute (e.g. ImageType), upper-cased and trimmed. */
export function codes(ds: DicomJson | undefined, keyword: Keyword): string[] {
  return (ds?.[TAGS[keyword]]?.Value ?? []).map((v) => String(v ?? '').trim().toUpperCase());
}

/** 20240131 → 2024-01-31; anything else is returned as is. */
export function formatDate(da: string): string {
  const m = /^(\d{4})(\d{2})(\d{2})$/.exec(da);
  return m ? `${m[1]}-${m[2]}-${m[3]}` : da;
}

/** A short text for any attribute value, for the tag browser. */
export function displayValue(attr: DicomAttribute): string {
  if (attr.BulkDataURI) return `[bulk data] ${attr.BulkDataURI}`;
  if (attr.InlineBinary) return `[binary ${Math.floor((attr.InlineBinary.length * 3) / 4)} bytes]`;
  if (!attr.Value) return '';
  if (attr.vr === 'SQ') return `[${attr.Value.length} item(s)]`;
  if (attr.vr === 'PN') return attr.Value.map(personName).join('\\');
  return attr.Value.map((v) => (typeof v === 'object' ? JSON.stringify(v) : String(v))).join('\\');
}

/** "00100010" → "(0010,0010)". */
export function formatTag(tag: string): string {
  return `(${tag.slice(0, 4)},${tag.slice(4)})`.toUpperCase();
}

const KEYWORD_BY_TAG: Record<string, string> = Object.fromEntries(
  Object.entries(TAGS).map(([keyword, tag]) => [tag, keyword]),
);
export function keywordOf(tag: string): string {
  return KEYWORD_BY_TAG[tag.toUpperCase()] ?? '';
}
