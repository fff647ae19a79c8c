// SOP Class UIDs the viewer recognises (PS3.4 Annex B.5, PS3.6 Annex A), by their standard names.

export const SOP_CLASS = {
  ParametricMapStorage: '1.2.840.10008.5.1.4.1.1.30',
  EncapsulatedPDFStorage: '1.2.840.10008.5.1.4.1.1.104.1',
  SecondaryCaptureImageStorage: '1.2.840.10008.5.1.4.1.1.7',
  MRImageStorage: '1.2.840.10008.5.1.4.1.1.4',
  EnhancedMRImageStorage: '1.2.840.10008.5.1.4.1.1.4.1',
  CTImageStorage: '1.2.840.10008.5.1.4.1.1.2',
  EnhancedCTImageStorage: '1.2.840.10008.5.1.4.1.1.2.1',
} as const;

/** Structured Report families (PS3.4 Annex O and the SR-based storage classes). */
export const STRUCTURED_REPORT_SOP_CLASSES = [
  '1.2.840.10008.5.1.4.1.1.88.11', // Basic Text SR
  '1.2.840.10008.5.1.4.1.1.88.22', // Enhanced SR
  '1.2.840.10008.5.1.4.1.1.88.33', // Comprehensive SR
  '1.2.840.10008.5.1.4.1.1.88.34', // Comprehensive 3D SR
  '1.2.840.10008.5.1.4.1.1.88.35', // Extensible SR
  '1.2.840.10008.5.1.4.1.1.88.40', // Procedure Log
  '1.2.840.10008.5.1.4.1.1.88.50', // Mammography CAD SR
  '1.2.840.10008.5.1.4.1.1.88.59', // Key Object Selection Document
  '1.2.840.10008.5.1.4.1.1.88.65', // Chest CAD SR
  '1.2.840.10008.5.1.4.1.1.88.67', // X-Ray Radiation Dose SR
  '1.2.840.10008.5.1.4.1.1.88.68', // Radiopharmaceutical Radiation Dose SR
  '1.2.840.10008.5.1.4.1.1.88.69', // Colon CAD SR
  '1.2.840.10008.5.1.4.1.1.88.70', // Implantation Plan SR
  '1.2.840.10008.5.1.4.1.1.88.71', // Acquisition Context SR
  '1.2.840.10008.5.1.4.1.1.88.72', // Simplified Adult Echo SR
  '1.2.840.10008.5.1.4.1.1.88.73', // Patient Radiation Dose SR
  '1.2.840.10008.5.1.4.1.1.88.74', // Planned Imaging Agent Administration SR
  '1.2.840.10008.5.1.4.1.1.88.75', // Performed Imaging Agent Administration SR
  '1.2.840.10008.5.1.4.1.1.88.76', // Enhanced X-Ray Radiation Dose SR
] as const;
