"""Indonesian field-report texts from templates, with varied word forms.

Templates use ``[a|b|c]`` for alternatives (one picked at random, nesting allowed) and
``{slot}`` for names from the area registry and the moment (village, kecamatan, regency,
candidate pair, polling station, local time). The alternatives carry the morphology a search
engine has to cope with: bentrok / bentrokan / terlibat bentrok, kampanye / berkampanye,
bakar / dibakar / pembakaran, rusak / dirusak / perusakan, ancam / diancam / ancaman ...
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from schemas.report import Category, IncidentState

_CHOICE = re.compile(r"\[([^\[\]]*)\]")

PLACES: Final = (
    "depan kantor KPU {kab}",
    "depan kantor Bawaslu {kab}",
    "posko pemenangan {paslon}",
    "Pasar {desa}",
    "lapangan Desa {desa}",
    "Balai Desa {desa}",
    "simpang empat {desa}",
    "Jl. [Jend. Sudirman|Ahmad Yani|Pangeran Antasari|Gajah Mada|Diponegoro|Imam Bonjol], {desa}",
    "area parkir [GOR|gedung serbaguna] Kec. {kec}",
    "sekitar [masjid|gereja|sekolah] di Desa {desa}",
)

TEMPLATES: Final[Mapping[Category, tuple[str, ...]]] = {
    Category.CAMPAIGN_VIOLATION: (
        "Ditemukan APK {paslon} [dipasang|terpasang] di [pohon pelindung|tiang listrik|"
        "pagar sekolah|area tempat ibadah] di Desa {desa}, [melanggar|tidak sesuai] zonasi.",
        "[Kampanye|Kegiatan kampanye|Kampanye terbuka] {paslon} di {tempat} melewati batas "
        "waktu yang ditentukan, sudah [dihimbau|diberi teguran] oleh personel.",
        "Tim sukses {paslon} [berkampanye|melakukan kampanye|kampanye door to door] di "
        "[lingkungan sekolah|rumah ibadah|kantor desa] Desa {desa}.",
        "Oknum ASN di Kec. {kec} diduga [ikut berkampanye|terlibat kampanye|mengkampanyekan] "
        "{paslon}, [dilaporkan ke|diteruskan ke] Bawaslu.",
        "[Pelibatan|Melibatkan|Ditemukan] anak-anak dalam [kampanye|arak-arakan kampanye] "
        "{paslon} di {tempat}.",
        "Konvoi kendaraan [kampanye|simpatisan] {paslon} [tanpa izin|tidak sesuai jadwal] "
        "melintas di Kec. {kec}, [menimbulkan kemacetan|arus lalu lintas tersendat].",
    ),
    Category.MONEY_POLITICS: (
        "Warga [melaporkan|menginformasikan] [pembagian|bagi-bagi] [amplop|uang tunai|sembako] "
        "oleh tim sukses {paslon} di Desa {desa}.",
        "Diduga [terjadi|ada] [politik uang|money politic|serangan fajar] di Desa {desa}, "
        "[amplop berisi|uang] Rp [50.000|100.000|200.000] [dibagikan|diberikan] ke warga.",
        "[Diamankan|Ditemukan] [amplop|paket sembako] bergambar {paslon} yang [akan dibagikan|"
        "siap dibagi] di {tempat}.",
        "Info dari [masyarakat|tokoh masyarakat|Babinsa]: [pembagian|membagikan] uang kepada "
        "pemilih di Kec. {kec} [menjelang|jelang] pencoblosan.",
    ),
    Category.INTIMIDATION: (
        "[Saksi|Petugas KPPS|Warga] di Desa {desa} [mendapat ancaman|diancam|menerima ancaman] "
        "dari [kelompok tidak dikenal|OTK|oknum pendukung {paslon}].",
        "[Ancaman|Intimidasi] terhadap [penyelenggara|anggota PPS|pemilih] di Kec. {kec}, "
        "[pelaku|terduga pelaku] [mengancam|menakut-nakuti] agar memilih {paslon}.",
        "Rumah [kepala desa|ketua RT|anggota PPK] di Desa {desa} [didatangi|dikepung] massa "
        "yang [mengancam|bernada ancaman], situasi [tegang|memanas].",
    ),
    Category.CLASH: (
        "Terjadi [bentrokan|bentrok|perkelahian|saling lempar batu] antara [pendukung|"
        "simpatisan|massa pendukung] {paslon} dan {paslon2} di {tempat}.",
        "[Massa|Simpatisan] dua kubu [terlibat bentrok|bentrok|saling serang] di Desa {desa}, "
        "[{jumlah} orang luka ringan|ada korban luka|belum ada korban].",
        "[Bentrokan|Bentrok] [pecah|terjadi] [usai|setelah] kampanye {paslon} di {tempat}, "
        "personel [melakukan pemisahan massa|memisahkan kedua kelompok].",
        "[Keributan|Cekcok] [berujung|berakhir] [bentrok|perkelahian] di Kec. {kec}, "
        "dipicu [saling ejek|perusakan atribut|isu politik uang].",
    ),
    Category.RIOT: (
        "[Kerusuhan|Kericuhan|Ricuh] di {tempat}, massa [membakar ban|melempar batu|"
        "merusak fasilitas umum], [butuh|mohon] [back up Dalmas|penebalan personel].",
        "Massa [mengamuk|anarkis] di Kec. {kec}, [kendaraan|pos|kantor PPK] [dibakar|"
        "dirusak|jadi sasaran pembakaran].",
        "[Pembakaran|Dibakarnya] [kotak suara|kantor PPS|posko] di Desa {desa} oleh massa, "
        "situasi [belum terkendali|masih memanas].",
    ),
    Category.HOAX: (
        "Beredar [hoaks|hoax|berita bohong|pesan berantai] [tentang|soal] [penundaan "
        "pemungutan suara|surat suara tercoblos|kecurangan KPPS] di Kec. {kec}.",
        "[Akun|Grup WhatsApp] [menyebarkan|disebarkan] [isu|informasi] [palsu|tidak benar] "
        "terkait {paslon}, [sudah diklarifikasi|sedang didalami] oleh Siber.",
        "[Penyebaran|Tersebar] video [hoaks|editan|lama] [kerusuhan|bentrokan] yang [diklaim|"
        "disebut] terjadi di {kab}, [meresahkan|bikin resah] warga.",
    ),
    Category.VANDALISM: (
        "[Baliho|Spanduk|APK|Banner] {paslon} di {tempat} [dirusak|dirobek|dicoret-coret|"
        "dirobohkan] orang tidak dikenal [malam hari|dini hari].",
        "[Perusakan|Pengrusakan|Pembakaran] [APK|baliho|alat peraga kampanye] {paslon} di "
        "Desa {desa}, [pelaku belum diketahui|pelaku dalam penyelidikan].",
        "[Ditemukan|Terdapat] [baliho|APK] {paslon} [dibakar|terbakar|hangus dibakar] di "
        "Kec. {kec}.",
    ),
    Category.LOGISTICS: (
        "[Distribusi|Pendistribusian|Pengiriman] logistik [ke TPS|pemilu] di Kec. {kec} "
        "[terlambat|tertunda|tersendat] karena [cuaca buruk|banjir|akses jalan rusak|"
        "air sungai surut].",
        "[Kotak suara|Surat suara|Bilik suara] di TPS {tps} Desa {desa} [rusak|basah|kurang|"
        "tertukar dengan dapil lain], [sudah dilaporkan ke PPK|menunggu penggantian].",
        "Pengawalan logistik [pemilu|pilkada] dari gudang KPU {kab} ke Kec. {kec} "
        "[tertahan|terhambat] [longsor|jembatan putus|kendaraan mogok].",
    ),
    Category.CROWD: (
        "Massa [berkumpul|berkerumun|konsentrasi massa] [sekitar {jumlah} orang|"
        "± {jumlah} orang] di {tempat}, situasi [masih terkendali|kondusif|mulai memanas].",
        "[Aksi unjuk rasa|Unras|Demo] [pendukung|simpatisan] {paslon} di {tempat} "
        "[menuntut|mendesak] [penghitungan ulang|transparansi KPU|diskualifikasi paslon lain].",
        "[Pengerahan|Mobilisasi] massa {paslon} [menuju|ke arah] {tempat}, [dipantau|"
        "dilakukan pengamanan] oleh personel Polsek {kec}.",
    ),
    Category.CRIME: (
        "[Pencurian|Dicurinya|Kehilangan] [sepeda motor|kendaraan|perlengkapan] [milik|"
        "petugas] [anggota KPPS|saksi] di Desa {desa}, [dalam penyelidikan|sudah dilaporkan].",
        "[Penganiayaan|Dianiaya|Pemukulan] terhadap [saksi|relawan|tim sukses] {paslon} di "
        "{tempat}, [korban dibawa ke puskesmas|pelaku sudah diamankan].",
        "[Perjudian|Taruhan] hasil pilkada di Kec. {kec} [dibubarkan|diamankan] personel.",
    ),
    Category.HAZARD: (
        "[Banjir|Genangan air|Luapan sungai] di Desa {desa} [menggenangi|merendam] lokasi "
        "TPS {tps}, [TPS dipindahkan|evakuasi logistik].",
        "[Pohon tumbang|Longsor] [menutup|memutus] akses jalan di Kec. {kec}, "
        "[pengalihan arus|pembersihan bersama warga].",
        "[Kebakaran|Terbakarnya] [rumah warga|lahan|kios] di Desa {desa}, [tidak terkait "
        "pilkada|api berhasil dipadamkan].",
    ),
    Category.OTHER: (
        "[Rapat koordinasi|Rakor] pengamanan dengan [KPU|Bawaslu|Forkopimcam] Kec. {kec}, "
        "situasi [aman|kondusif].",
        "[Pemadaman listrik|Listrik padam] di Desa {desa} [saat|selama] [rekapitulasi|"
        "penghitungan suara], [genset disiapkan|proses dilanjutkan].",
    ),
}

CHECK_IN_TEMPLATES: Final = (
    "[Giat sambang|Sambang desa|Patroli dialogis|Door to door system] di Desa {desa}, "
    "[situasi aman dan kondusif|sitkamtibmas aman terkendali|situasi aman|kondusif].",
    "Bhabinkamtibmas Desa {desa} [melaksanakan|laksanakan] [cooling system|himbauan kamtibmas|"
    "pengecekan pos kamling|sambang tokoh masyarakat], [situasi aman|aman kondusif].",
    "[Patroli|Pemantauan] wilayah Desa {desa} Kec. {kec} {jam}: [nihil kejadian|tidak ada "
    "kejadian menonjol|aman].",
    "[Laporan rutin|Lapor situasi] Desa {desa}: [aman terkendali|kondusif], [warga beraktivitas "
    "normal|tidak ada gangguan kamtibmas].",
)

VOTING_CHECK_IN_TEMPLATES: Final = (
    "Pengamanan TPS {tps} Desa {desa}: pemungutan suara berjalan [lancar|tertib|aman], "
    "[tidak ada kendala|nihil gangguan].",
    "[Penghitungan|Perhitungan] suara di TPS {tps} Desa {desa} [berjalan lancar|selesai], "
    "situasi [aman|kondusif].",
)

FOLLOW_UP_TEMPLATES: Final[Mapping[IncidentState, tuple[str, ...]]] = {
    IncidentState.HANDLING: (
        "[Lanjutan|Update|Perkembangan]: [personel Polsek {kec}|tim gabungan TNI-Polri|"
        "piket fungsi] [sudah di TKP|menuju TKP|melakukan penanganan|melakukan mediasi].",
        "[Sedang ditangani|Dalam penanganan] Polsek {kec}, [pihak terkait sudah dipertemukan|"
        "saksi dimintai keterangan].",
    ),
    IncidentState.RESOLVED: (
        "[Selesai|Telah selesai] [ditangani|diselesaikan secara kekeluargaan], situasi "
        "[kembali kondusif|aman terkendali].",
        "[Update|Lanjutan]: [permasalahan selesai|kasus sudah ditangani], [massa sudah "
        "membubarkan diri|warga kembali beraktivitas].",
    ),
}

URGENT_SUFFIX: Final = (
    " [Mohon|Butuh] [bantuan personel tambahan|back up Dalmas|penebalan personel].",
    " [Situasi memanas|Eskalasi meningkat], [mohon petunjuk|menunggu arahan] pimpinan.",
)

_ZONE_NAMES: Final = {7: "WIB", 8: "WITA", 9: "WIT"}


@dataclass(frozen=True)
class Place:
    regency: str
    kecamatan: str
    village: str | None


def zone_abbreviation(moment: datetime) -> str:
    offset = moment.utcoffset()
    hours = int(offset.total_seconds() // 3600) if offset is not None else 0
    return _ZONE_NAMES.get(hours, f"UTC{hours:+d}")


def expand(template: str, rng: random.Random) -> str:
    """Resolve ``[a|b]`` alternatives, innermost first."""
    while True:
        match = _CHOICE.search(template)
        if match is None:
            return template
        choice = rng.choice(match.group(1).split("|"))
        template = template[: match.start()] + choice + template[match.end() :]


def fill(template: str, rng: random.Random, place: Place, moment: datetime, tps: str) -> str:
    first, second = rng.sample(range(1, 5), 2)
    village = place.village or place.kecamatan
    slots = {
        "desa": village,
        "kec": place.kecamatan,
        "kab": place.regency,
        "paslon": _pair(first, rng),
        "paslon2": _pair(second, rng),
        "jumlah": str(rng.choice((15, 20, 30, 50, 75, 100, 150, 200, 300))),
        "tps": tps,
        "jam": f"pukul {moment:%H.%M} {zone_abbreviation(moment)}",
    }
    slots["tempat"] = expand(rng.choice(PLACES), rng).format(**slots)
    return expand(template, rng).format(**slots)


def _pair(number: int, rng: random.Random) -> str:
    return expand(
        rng.choice(
            ("paslon [nomor urut|no. urut|nomor] {n}", "pasangan calon 0{n}", "Paslon 0{n}")
        ),
        rng,
    ).format(n=number)


def incident_text(
    category: Category,
    severity: int,
    rng: random.Random,
    place: Place,
    moment: datetime,
    tps: str,
) -> str:
    text = fill(rng.choice(TEMPLATES[category]), rng, place, moment, tps)
    if severity >= 4:
        text += fill(rng.choice(URGENT_SUFFIX), rng, place, moment, tps)
    return text


def check_in_text(
    rng: random.Random, place: Place, moment: datetime, tps: str, voting: bool
) -> str:
    templates = VOTING_CHECK_IN_TEMPLATES if voting else CHECK_IN_TEMPLATES
    return fill(rng.choice(templates), rng, place, moment, tps)


def follow_up_text(
    state: IncidentState, rng: random.Random, place: Place, moment: datetime, tps: str
) -> str:
    return fill(rng.choice(FOLLOW_UP_TEMPLATES[state]), rng, place, moment, tps)
