// The map (OpenLayers, canvas 2D: no WebGL needed): patch outlines coloured by state,
// the run's raster layers (tiles fetched with the bearer header), a before/after swipe.
/* global ol */
import { authHeaders } from "./api.js";
import { currentLang } from "./i18n.js";

export const STATE_COLOURS = {
  detected: "#f4a300", screened: "#ff7f0e", reopened: "#9467bd",
  reviewed_accepted: "#d62728", rejected: "#7f7f7f", dispatched: "#1f77b4",
  field_checked: "#17becf", rectification_required: "#e377c2", rectified: "#bcbd22",
  closed: "#2ca02c", superseded: "#c7c7c7",
};

const geojson = new ol.format.GeoJSON({
  dataProjection: "EPSG:4326", // RFC 7946 lon/lat; EPSG:4490 is within a metre of it
  featureProjection: "EPSG:3857",
});

function patchStyle(feature, selected) {
  const colour = STATE_COLOURS[feature.get("state")] || "#333";
  return new ol.style.Style({
    stroke: new ol.style.Stroke({ color: selected ? "#ffff00" : colour, width: selected ? 4 : 2 }),
    fill: new ol.style.Fill({ color: `${colour}33` }),
  });
}

// Zone outlines: green, no fill, under the patches.
const ZONE_STYLE = new ol.style.Style({
  stroke: new ol.style.Stroke({ color: "#1a9e3a", width: 2 }),
});
export const ZONES_INFO = { name: "zones", title_zh: "区域边界", title_en: "Zone outlines" };

// Fetch a tile with the Authorization header and hand it to the tile's image.
function authTileLoad(tile, src) {
  fetch(src, { headers: authHeaders() })
    .then((r) => (r.ok ? r.blob() : Promise.reject(new Error(`tile ${r.status}`))))
    .then((blob) => {
      const url = URL.createObjectURL(blob);
      const image = tile.getImage();
      image.addEventListener("load", () => URL.revokeObjectURL(url), { once: true });
      image.src = url;
    })
    .catch(() => tile.setState(3)); // ol.TileState.ERROR
}

export class ReviewMap {
  constructor(target, onPick) {
    this.patches = new ol.source.Vector();
    this.selectedId = null;
    this.patchLayer = new ol.layer.Vector({
      source: this.patches,
      style: (f) => patchStyle(f, f.getId() === this.selectedId),
      zIndex: 10,
    });
    this.zones = new ol.source.Vector();
    this.zoneLayer = new ol.layer.Vector({ source: this.zones, style: ZONE_STYLE, zIndex: 9 });
    this.zoneEntry = { info: ZONES_INFO, layer: this.zoneLayer };
    this.rasters = [];
    this.swipe = 50;
    this.map = new ol.Map({
      target,
      layers: [this.zoneLayer, this.patchLayer],
      view: new ol.View({ center: ol.proj.fromLonLat([116, 40]), zoom: 4 }),
      controls: ol.control.defaults.defaults({ attribution: false }),
    });
    this.map.on("singleclick", (event) => {
      const hit = this.map.forEachFeatureAtPixel(event.pixel, (f) => f, {
        layerFilter: (l) => l === this.patchLayer,
      });
      if (hit) onPick(hit.getId());
    });
  }

  setPatches(features) {
    this.patches.clear();
    this.patches.addFeatures(geojson.readFeatures({ type: "FeatureCollection", features }));
    const extent = this.patches.getExtent();
    if (features.length && !ol.extent.isEmpty(extent)) {
      this.map.getView().fit(extent, { padding: [40, 40, 40, 40], maxZoom: 16 });
    }
  }

  // The run's zones, from GET /runs/{id}/zones (a FeatureCollection in lon/lat).
  setZones(features) {
    this.zones.clear();
    this.zones.addFeatures(geojson.readFeatures({ type: "FeatureCollection", features }));
    return this.zoneEntry;
  }

  // Bounds [west, south, east, north] in EPSG:4326.
  fitBounds(bounds) {
    const extent = ol.proj.transformExtent(bounds, "EPSG:4326", "EPSG:3857");
    this.map.getView().fit(extent, { padding: [20, 20, 20, 20] });
  }

  updatePatch(feature) {
    const found = this.patches.getFeatureById(feature.id);
    if (found) found.setProperties(feature.properties);
  }

  select(id) {
    this.selectedId = id;
    this.patchLayer.changed();
    const found = id && this.patches.getFeatureById(id);
    if (found) {
      this.map.getView().fit(found.getGeometry().getExtent(), {
        padding: [80, 80, 80, 80], maxZoom: 17, duration: 150,
      });
    }
  }

  // The run's raster layers, from GET /runs/{id}/layers ({layers: [{name, tiles, ...}]}).
  setRasters(layers) {
    for (const entry of this.rasters) this.map.removeLayer(entry.layer);
    this.rasters = layers.map((info, i) => {
      const layer = new ol.layer.Tile({
        source: new ol.source.XYZ({
          url: info.tiles, // the template as given by the service
          minZoom: info.minzoom ?? 0,
          maxZoom: info.maxzoom ?? 22,
          tileLoadFunction: authTileLoad,
          crossOrigin: null,
        }),
        visible: info.name === "before" || info.name === "after",
        opacity: info.name === "probability" || info.name === "mask" ? 0.6 : 1,
        zIndex: i,
      });
      if (info.name === "after") this.clipForSwipe(layer);
      this.map.addLayer(layer);
      return { info, layer };
    });
    return this.rasters;
  }

  title(info) {
    return currentLang() === "en" ? info.title_en || info.name : info.title_zh || info.name;
  }

  // The "after" layer is drawn only right of the swipe line.
  clipForSwipe(layer) {
    layer.on("prerender", (event) => {
      const ctx = event.context;
      const size = this.map.getSize();
      const x = (size[0] * this.swipe) / 100;
      const tl = ol.render.getRenderPixel(event, [x, 0]);
      const tr = ol.render.getRenderPixel(event, [size[0], 0]);
      const bl = ol.render.getRenderPixel(event, [x, size[1]]);
      const br = ol.render.getRenderPixel(event, size);
      ctx.save();
      ctx.beginPath();
      ctx.moveTo(tl[0], tl[1]);
      ctx.lineTo(bl[0], bl[1]);
      ctx.lineTo(br[0], br[1]);
      ctx.lineTo(tr[0], tr[1]);
      ctx.closePath();
      ctx.clip();
    });
    layer.on("postrender", (event) => {
      const ctx = event.context;
      ctx.restore();
      const size = this.map.getSize();
      const x = (size[0] * this.swipe) / 100;
      const top = ol.render.getRenderPixel(event, [x, 0]);
      const bottom = ol.render.getRenderPixel(event, [x, size[1]]);
      ctx.save(); // the swipe line
      ctx.strokeStyle = "#ffffff";
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.moveTo(top[0], top[1]);
      ctx.lineTo(bottom[0], bottom[1]);
      ctx.stroke();
      ctx.restore();
    });
  }

  setSwipe(percent) {
    this.swipe = Number(percent);
    this.map.render();
  }
}
